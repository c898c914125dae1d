//! Text from AWS made safe for a terminal or a log line.
//!
//! Job names, state names, run ids and error messages come from AWS and may hold anything:
//! `ESC [2J` clears a screen, `ESC ]0;…BEL` retitles a window, `U+202E` reverses what follows,
//! a newline forges a line of output. [`escape`] and [`Escaped`] replace every such character
//! with its Rust escape, `\u{…}` in lowercase hex (`\x1b` → `\u{1b}`, `\n` → `\u{a}`), so it
//! stays visible and harmless. Escaped are:
//!
//! - control characters (Unicode `Cc`): C0 `U+0000..=U+001F` (tab and newline included), DEL
//!   `U+007F` and C1 `U+0080..=U+009F`;
//! - bidirectional formatting: `U+061C`, `U+200E`, `U+200F`, `U+202A..=U+202E`,
//!   `U+2066..=U+2069`;
//! - line and paragraph separators `U+2028`, `U+2029`.
//!
//! Everything else, backslashes included, passes unchanged: the goal is a safe display, not a
//! reversible encoding.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Whether `c` must not reach a terminal as is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` with every unsafe character written as `\u{…}`; borrowed when nothing needed escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    // Writing to a String cannot fail.
    let _ = write_escaped(&mut out, s);
    Cow::Owned(out)
}

fn write_escaped(w: &mut impl Write, s: &str) -> fmt::Result {
    for c in s.chars() {
        if is_unsafe(c) {
            write!(w, "\\u{{{:x}}}", c as u32)?;
        } else {
            w.write_char(c)?;
        }
    }
    Ok(())
}

/// Displays a value with [`escape`] applied to everything it writes, e.g. in a log field:
/// `warn!(error = %Escaped(&e), "…")`. Width and fill flags are not applied.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct W<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl Write for W<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                write_escaped(self.0, s)
            }
        }
        write!(W(f), "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_visibly() {
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("\x1b]0;pwned\x07"), "\\u{1b}]0;pwned\\u{7}");
        assert_eq!(escape("x\ny\r\t"), "x\\u{a}y\\u{d}\\u{9}");
        assert_eq!(escape("\0\x7f\u{85}\u{9b}"), "\\u{0}\\u{7f}\\u{85}\\u{9b}");
        assert_eq!(escape("ab\u{202E}cd"), "ab\\u{202e}cd");
        assert_eq!(
            escape("\u{2066}\u{2069}\u{200F}"),
            "\\u{2066}\\u{2069}\\u{200f}"
        );
        assert_eq!(escape("l1\u{2028}l2\u{2029}"), "l1\\u{2028}l2\\u{2029}");
    }

    #[test]
    fn leaves_ordinary_text_alone_and_borrowed() {
        for s in [
            "orders-etl",
            "Schritt ✓ 日本語 C:\\x",
            "States.TaskFailed: {\"a\":1}",
            "",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s), "{s}");
        }
    }

    #[test]
    fn escaped_display_matches_escape() {
        let e = "code\x1b[31m: msg\u{202E}\n";
        assert_eq!(Escaped(e).to_string(), escape(e));
        assert_eq!(
            Escaped(format_args!("{}|{}", "a\x07", 5)).to_string(),
            "a\\u{7}|5"
        );
    }

    /// tracing-subscriber escapes only the message, not field values; the wrapper fills the
    /// gap at the call sites that log AWS text.
    #[test]
    fn log_fields_need_the_wrapper() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .map_err(|_| std::io::ErrorKind::Other)?
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        let hostile = "job\x1b[2J\x1b]0;pwned\x07";
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(pipeline = %hostile, "raw");
            tracing::warn!(pipeline = %Escaped(hostile), "escaped");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(
            lines[0].contains('\x1b'),
            "raw field is not escaped: {out:?}"
        );
        assert!(!lines[1].chars().any(is_unsafe), "{out:?}");
        assert!(lines[1].contains("job\\u{1b}[2J"), "{out:?}");
    }
}
