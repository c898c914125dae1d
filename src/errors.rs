//! Error chains as one line of text, each cause said once.

/// An error and its sources, `a: b: c`. A source whose text the line already shows is skipped
/// (many errors repeat their source in their own message), and a segment repeated right after
/// itself inside one message is said once (`tcp connect error: tcp connect error: …`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !t.is_empty() && !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    collapse_repeats(&s)
}

/// `a: b: b: c` → `a: b: c`.
pub fn collapse_repeats(s: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in s.split(": ") {
        if out.last() != Some(&part) {
            out.push(part);
        }
    }
    out.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn error_chains_do_not_repeat_themselves() {
        let e = E(
            "tcp connect error",
            Some(Box::new(E(
                "tcp connect error",
                Some(Box::new(E("Connection refused (os error 111)", None))),
            ))),
        );
        assert_eq!(
            error_chain(&e),
            "tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn repeated_causes_inside_one_message_are_said_once() {
        assert_eq!(
            collapse_repeats(
                "transport error: tcp connect error: tcp connect error: Connection refused (os error 111)"
            ),
            "transport error: tcp connect error: Connection refused (os error 111)"
        );
        assert_eq!(collapse_repeats("a: b: a"), "a: b: a");
    }
}
