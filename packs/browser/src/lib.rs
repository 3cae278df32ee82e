//! Pack `browser`: screenshots, PDFs and scripted interactions in a real
//! Chromium page. The page runs in the call's session (pass `_session_id`
//! to keep cookies across calls); everything it loads passes the host's
//! egress guard; images and PDFs come back as artifacts with signed,
//! expiring download links.

mod interact;

use helmdeck_sdk::artifacts::{self, ArtifactRef};
use helmdeck_sdk::browser::{ImageFormat, PageTarget, PaperFormat, Screenshot, ViewportSize};
use helmdeck_sdk::prelude::*;
pub use interact::{Action, InteractInput, InteractOutput};

/// Image encodings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Lossless; best for text and UI.
    #[default]
    Png,
    /// Lossy and small; best for photos. Takes `quality`.
    Jpeg,
    /// Lossy or near-lossless, smallest. Takes `quality`.
    Webp,
}

impl Format {
    fn wit(self) -> ImageFormat {
        match self {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Webp => ImageFormat::Webp,
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Webp => "webp",
        }
    }
}

/// Input of `screenshot_url`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScreenshotInput {
    #[serde(flatten)]
    pub target: PageTarget,
    /// Capture the whole scrollable page instead of the viewport (default false).
    #[serde(default)]
    pub full_page: bool,
    /// Viewport size in CSS pixels (default: the session's, 1280x720).
    pub viewport: Option<ViewportSize>,
    /// Image encoding (default png).
    #[serde(default)]
    pub format: Format,
    /// Quality 1-100 for jpeg and webp (default 80); not allowed with png.
    #[schemars(range(min = 1, max = 100))]
    pub quality: Option<u8>,
    /// Capture only the first element matching this CSS selector.
    #[schemars(length(min = 1, max = 1024))]
    pub selector: Option<String>,
}

/// A screenshot.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScreenshotOutput {
    /// The image, stored as an artifact (with a signed `download_url`).
    pub artifact: ArtifactRef,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// The URL after redirects.
    pub final_url: String,
    /// The page title.
    pub title: String,
    /// HTTP status of the page, when known.
    pub status: Option<u16>,
}

/// Paper sizes.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    /// 8.5 x 11 in.
    #[default]
    Letter,
    /// 8.5 x 14 in.
    Legal,
    /// 210 x 297 mm.
    A4,
    /// 297 x 420 mm.
    A3,
}

/// Input of `pdf`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PdfInput {
    #[serde(flatten)]
    pub target: PageTarget,
    /// Paper size (default letter); a page's own `@page` size wins.
    #[serde(default)]
    pub paper: Paper,
    /// Landscape orientation (default false).
    #[serde(default)]
    pub landscape: bool,
    /// Print background colours and images (default true).
    #[serde(default = "yes")]
    pub print_background: bool,
}

fn yes() -> bool {
    true
}

/// A printed page.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PdfOutput {
    /// The PDF, stored as an artifact (with a signed `download_url`).
    pub artifact: ArtifactRef,
    /// The URL after redirects.
    pub final_url: String,
    /// The page title.
    pub title: String,
}

helmdeck_sdk::pack! {
    name: "browser";

    /// Open a URL in a real Chromium and take a screenshot: the viewport,
    /// the full page, or one element. Returns the image as an artifact with
    /// its size, the final URL and the title.
    fn screenshot_url(input: ScreenshotInput) -> ToolResult<ScreenshotOutput> {
        let quality = match (input.format, input.quality) {
            (Format::Png, Some(_)) => return Err(ToolError::invalid_input("`quality` applies to jpeg and webp only; drop it for png")),
            (Format::Png, None) => None,
            (_, q) => Some(q.unwrap_or(80)),
        };
        let (page, landed) = input.target.open(input.viewport)?;
        let shot = Screenshot::png()
            .format(input.format.wit())
            .quality(quality)
            .full_page(input.full_page)
            .selector(input.selector.clone());
        let image = page.screenshot(&shot)?;
        let name = format!("screenshot.{}", input.format.extension());
        let artifact = artifacts::put(&name, input.format.media_type(), &image.data)?;
        Ok(ScreenshotOutput {
            artifact,
            width: image.width,
            height: image.height,
            final_url: landed.url,
            title: landed.title,
            status: landed.status,
        })
    }

    /// Open a URL in a real Chromium and print it to PDF (print CSS
    /// applies). Returns the PDF as an artifact.
    fn pdf(input: PdfInput) -> ToolResult<PdfOutput> {
        let (page, landed) = input.target.open(None)?;
        let paper = match input.paper {
            Paper::Letter => PaperFormat::Letter,
            Paper::Legal => PaperFormat::Legal,
            Paper::A4 => PaperFormat::A4,
            Paper::A3 => PaperFormat::A3,
        };
        let bytes = page.pdf(paper, input.landscape, input.print_background)?;
        let artifact = artifacts::put("page.pdf", "application/pdf", &bytes)?;
        Ok(PdfOutput { artifact, final_url: landed.url, title: landed.title })
    }

    /// Run an ordered list of browser actions (navigate, click, type,
    /// press, select, wait_for, scroll, screenshot, assert_text, extract)
    /// deterministically in one page. Stops at the first failing step and
    /// reports its index, the error and a screenshot of that moment.
    fn interact(input: InteractInput) -> ToolResult<InteractOutput> {
        interact::run(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values an enum schema allows: schemars writes `enum`, or `oneOf`
    /// of `const`s when the variants carry their own descriptions.
    fn allowed(schema: &serde_json::Value) -> Vec<String> {
        let values = match schema.get("enum") {
            Some(list) => list.as_array().cloned().unwrap_or_default(),
            None => schema["oneOf"].as_array().into_iter().flatten().map(|v| v["const"].clone()).collect(),
        };
        values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
    }

    #[test]
    fn schemas_carry_ranges_enums_and_the_shared_page_target() {
        let d = Pack::describe();
        let shot = &d.tools.iter().find(|t| t.name == "screenshot_url").unwrap().input_schema;
        assert_eq!(shot["required"], serde_json::json!(["url"]));
        assert_eq!(allowed(&shot["properties"]["format"]), ["png", "jpeg", "webp"]);
        assert_eq!(shot["properties"]["quality"]["maximum"], 100);
        assert_eq!(allowed(&shot["properties"]["wait_until"]), ["load", "network_idle"]);
        let interact = &d.tools.iter().find(|t| t.name == "interact").unwrap().input_schema;
        let actions = serde_json::to_string(&interact["properties"]["actions"]).unwrap();
        for action in [
            "navigate",
            "click",
            "type",
            "press",
            "select",
            "wait_for",
            "scroll",
            "screenshot",
            "assert_text",
            "extract",
        ] {
            assert!(actions.contains(&format!("\"{action}\"")), "{action} missing from {actions}");
        }
    }
}
