//! Screenshots and PDFs of a page. Full-page and element captures use a
//! clip with `captureBeyondViewport`, so the session's viewport emulation
//! is left as it was.

use super::page::SessionPage;
use super::scripts;
use crate::{Error, Result};
use base64::Engine as _;
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CaptureScreenshotParams, GetLayoutMetricsParams, PrintToPdfParams, Viewport,
};

/// Chromium cannot paint a texture taller or wider than this.
const MAX_CAPTURE_PX: f64 = 16_384.0;

/// Image encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shot<'a> {
    pub format: ImageFormat,
    /// 0-100 for jpeg and webp.
    pub quality: Option<u8>,
    pub full_page: bool,
    pub selector: Option<&'a str>,
}

/// Paper sizes (width, height in inches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    Letter,
    Legal,
    A4,
    A3,
}

impl Paper {
    fn inches(self) -> (f64, f64) {
        match self {
            Paper::Letter => (8.5, 11.0),
            Paper::Legal => (8.5, 14.0),
            Paper::A4 => (8.27, 11.69),
            Paper::A3 => (11.69, 16.54),
        }
    }
}

/// An encoded image and its size in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Capture `page` as `shot` says.
pub async fn screenshot(page: &SessionPage, shot: &Shot<'_>) -> Result<Image> {
    if shot.quality.is_some_and(|q| q > 100) {
        return Err(Error::invalid_input("`quality` must be 0-100"));
    }
    if shot.quality.is_some() && shot.format == ImageFormat::Png {
        return Err(Error::invalid_input("`quality` applies to jpeg and webp only; drop it for png"));
    }
    // `optimizeForSpeed` trades PNG compression for encoding time.
    let mut params = CaptureScreenshotParams::builder().optimize_for_speed(true).format(match shot.format {
        ImageFormat::Png => CaptureScreenshotFormat::Png,
        ImageFormat::Jpeg => CaptureScreenshotFormat::Jpeg,
        ImageFormat::Webp => CaptureScreenshotFormat::Webp,
    });
    if let Some(q) = shot.quality {
        params = params.quality(i64::from(q));
    }
    let clip = match (shot.selector, shot.full_page) {
        (Some(selector), _) => {
            let b = page.run_script(&scripts::element_box(selector)).await?;
            let f = |k: &str| b[k].as_f64().unwrap_or_default();
            Some(clip(f("x"), f("y"), f("width"), f("height")))
        }
        (None, true) => {
            let metrics =
                page.exchange("measure the page", page.cdp_page()?.execute(GetLayoutMetricsParams {})).await?;
            let size = &metrics.result.css_content_size;
            Some(clip(0.0, 0.0, size.width, size.height))
        }
        (None, false) => None,
    };
    if let Some(clip) = clip {
        params = params.clip(clip).capture_beyond_viewport(true);
    }
    let taken = page.exchange("take a screenshot", page.cdp_page()?.execute(params.build())).await?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(AsRef::<str>::as_ref(&taken.result.data))
        .map_err(|e| Error::internal(format!("the browser sent a screenshot that is not base64: {e}")))?;
    let size = imagesize::blob_size(&data)
        .map_err(|e| Error::internal(format!("the browser sent a screenshot that is not an image: {e}")))?;
    Ok(Image { width: size.width as u32, height: size.height as u32, data })
}

/// A whole-pixel clip at scale 1, kept within what Chromium can paint.
fn clip(x: f64, y: f64, width: f64, height: f64) -> Viewport {
    Viewport {
        x: x.max(0.0).floor(),
        y: y.max(0.0).floor(),
        width: width.ceil().clamp(1.0, MAX_CAPTURE_PX),
        height: height.ceil().clamp(1.0, MAX_CAPTURE_PX),
        scale: 1.0,
    }
}

/// Print `page` to PDF bytes.
pub async fn pdf(page: &SessionPage, paper: Paper, landscape: bool, print_background: bool) -> Result<Vec<u8>> {
    let (width, height) = paper.inches();
    let params = PrintToPdfParams {
        landscape: Some(landscape),
        print_background: Some(print_background),
        paper_width: Some(width),
        paper_height: Some(height),
        prefer_css_page_size: Some(true),
        ..PrintToPdfParams::default()
    };
    page.exchange("print to PDF", page.cdp_page()?.pdf(params)).await
}
