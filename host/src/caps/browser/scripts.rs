//! The JavaScript the capability runs in pages. Each snippet is one
//! expression over JSON-encoded arguments (never string-spliced input) that
//! returns `{ok: value}` or `{err: "syntax" | "not_found" | "invalid", message}`,
//! so a bad selector and a missing element come back as data, not as
//! exceptions to parse.

use serde_json::Value;

/// Wrap `body` (which sees `args` and `find(selector)`) as an expression.
fn script(body: &str, args: &Value) -> String {
    format!(
        "(() => {{ const args = {args};
  const fail = (err, message) => ({{ err, message }});
  const find = (selector) => {{
    try {{ return document.querySelector(selector); }}
    catch (e) {{ throw {{ helmdeck: fail('syntax', `\\`${{selector}}\\` is not a valid CSS selector`) }}; }}
  }};
  const need = (selector) => {{
    const el = find(selector);
    if (!el) throw {{ helmdeck: fail('not_found', `no element matches \\`${{selector}}\\``) }};
    return el;
  }};
  try {{ {body} }} catch (e) {{ if (e && e.helmdeck) return e.helmdeck; throw e; }}
}})()"
    )
}

/// Whether `selector` matches (`ok: true/false`), or a syntax error.
pub fn exists(selector: &str) -> String {
    script("return { ok: find(args[0]) !== null };", &serde_json::json!([selector]))
}

/// Whether the page's visible text contains `text`.
pub fn has_text(text: &str) -> String {
    script(
        "return { ok: (document.body ? document.body.innerText : '').includes(args[0]) };",
        &serde_json::json!([text]),
    )
}

/// Whether `expression` is truthy (awaited when it is a promise).
pub fn truthy(expression: &str) -> String {
    format!("(async () => ({{ ok: !!(await ({expression})) }}))()")
}

/// Texts (or attribute values) of every match of `selector`.
pub fn query(selector: &str, attribute: Option<&str>) -> String {
    script(
        "find(args[0]);
  const all = Array.from(document.querySelectorAll(args[0]));
  return { ok: all.map(el => args[1] === null ? (el.innerText ?? el.textContent ?? '') : (el.getAttribute(args[1]) ?? '')) };",
        &serde_json::json!([selector, attribute]),
    )
}

/// Scroll the first match into view and return its centre in viewport
/// coordinates, for a trusted mouse click there.
pub fn click_point(selector: &str) -> String {
    script(
        "const el = need(args[0]);
  el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) return fail('not_found', `\\`${args[0]}\\` matches an element that is not visible`);
  return { ok: { x: r.left + r.width / 2, y: r.top + r.height / 2 } };",
        &serde_json::json!([selector]),
    )
}

/// Focus the first match with the caret at its end.
pub fn focus(selector: &str) -> String {
    script(
        "const el = need(args[0]);
  el.scrollIntoView({ block: 'center', behavior: 'instant' });
  el.focus();
  if (document.activeElement !== el) return fail('invalid', `\\`${args[0]}\\` cannot take keyboard focus`);
  if (typeof el.value === 'string' && el.setSelectionRange) { try { el.setSelectionRange(el.value.length, el.value.length); } catch (_) {} }
  return { ok: true };",
        &serde_json::json!([selector]),
    )
}

/// Choose `value` in a `<select>`, firing `input` and `change` like a user
/// would; a failure lists the options only when `list_options`.
pub fn select(selector: &str, value: &str, list_options: bool) -> String {
    script(
        "const el = need(args[0]);
  if (el.tagName !== 'SELECT') return fail('invalid', `\\`${args[0]}\\` is a <${el.tagName.toLowerCase()}>, not a <select>`);
  const option = Array.from(el.options).find(o => o.value === args[1]);
  const values = args[2] ? `; values: ${Array.from(el.options).map(o => o.value).join(', ')}` : '';
  if (!option) return fail('not_found', `\\`${args[0]}\\` has no option with value \\`${args[1]}\\`${values}`);
  el.value = args[1];
  el.dispatchEvent(new Event('input', { bubbles: true }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return { ok: true };",
        &serde_json::json!([selector, value, list_options]),
    )
}

/// Scroll the first match into view, or the page by (dx, dy).
pub fn scroll(selector: Option<&str>, dx: i32, dy: i32) -> String {
    script(
        "if (args[0] !== null) { need(args[0]).scrollIntoView({ block: 'center', behavior: 'instant' }); }
  else { window.scrollBy(args[1], args[2]); }
  return { ok: { x: window.scrollX, y: window.scrollY } };",
        &serde_json::json!([selector, dx, dy]),
    )
}

/// The page-relative box of the first match, for an element screenshot.
pub fn element_box(selector: &str) -> String {
    script(
        "const el = need(args[0]);
  const r = el.getBoundingClientRect();
  if (r.width < 1 || r.height < 1) return fail('not_found', `\\`${args[0]}\\` matches an element with no size`);
  return { ok: { x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height } };",
        &serde_json::json!([selector]),
    )
}

/// Fill a login form, called in the host's isolated world with
/// `(expected_url, username_selector, password_selector, username,
/// password, submit_selector)`: nothing happens unless the document is
/// still at `expected_url`; every element is found before any is changed;
/// values are set through the native setter (so frameworks that track
/// their inputs see the change) with `input` and `change` events, then the
/// submit element, if any, is clicked. All in one task: no navigation can
/// come in between.
pub const FILL_LOGIN: &str = "function (expected, userSel, passSel, user, pass, submitSel) {
  const fail = (err, message) => ({ err, message });
  if (location.href !== expected) return fail('moved', 'the page is no longer at the address the credential was checked for');
  const find = (selector, what) => {
    let el;
    try { el = document.querySelector(selector); } catch (e) { return fail('syntax', `\\`${selector}\\` is not a valid CSS selector`); }
    if (!el) return fail('not_found', `no element matches \\`${selector}\\` (the ${what})`);
    return el;
  };
  const fields = [find(userSel, 'username field'), find(passSel, 'password field')];
  const submit = submitSel === null ? null : find(submitSel, 'submit button');
  for (const f of fields.concat(submit ? [submit] : [])) { if (f.err) return f; }
  for (const f of fields) {
    if (!(f instanceof HTMLInputElement || f instanceof HTMLTextAreaElement)) return fail('invalid', 'the username and password selectors must match input or textarea fields');
  }
  const put = (el, value) => {
    const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value').set;
    el.focus();
    setter.call(el, value);
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  };
  put(fields[0], user);
  put(fields[1], pass);
  if (submit) submit.click();
  return { ok: true };
}";

/// The document's visible text.
pub const TEXT: &str = "({ ok: document.body ? document.body.innerText : '' })";
/// The serialized DOM.
pub const CONTENT: &str = "({ ok: (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + '\\n' : '') + document.documentElement.outerHTML })";
/// The current URL, title and the main document's HTTP status.
pub const LOCATION: &str = "({ ok: { url: location.href, title: document.title, \
status: (performance.getEntriesByType('navigation')[0] || {}).responseStatus || null } })";
