//! Lenient reading of `/sso/Authenticator` replies: every `<tag>text</tag>` becomes one entry
//! of a flat map keyed by the tag name, which is all any reply needs (`ibkr-sso-login.md` §10;
//! element order and nesting vary and are not relied on).
use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// Tag name → text of the reply's leaf elements (the last one wins when a name repeats).
#[derive(Debug, Default, Clone)]
pub struct Reply(HashMap<String, String>);

impl Reply {
    /// Parses `body`; `None` if it is not XML with an `ib_auth_res` root.
    pub fn parse(body: &str) -> Option<Reply> {
        let mut reader = Reader::from_str(body);
        let mut map = HashMap::new();
        let mut current: Option<(String, String)> = None;
        let mut root_ok = false;
        loop {
            match reader.read_event().ok()? {
                Event::Start(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    root_ok |= name == "ib_auth_res";
                    current = Some((name, String::new()));
                }
                Event::Empty(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    root_ok |= name == "ib_auth_res";
                    map.insert(name, String::new());
                }
                Event::Text(t) => {
                    if let Some((_, text)) = &mut current {
                        text.push_str(&t.into_inner());
                    }
                }
                Event::CData(t) => {
                    if let Some((_, text)) = &mut current {
                        text.push_str(&t.into_inner());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some((_, text)) = &mut current {
                        let c = match r.into_inner().as_ref() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            _ => '?',
                        };
                        text.push(c);
                    }
                }
                Event::End(_) => {
                    if let Some((name, text)) = current.take() {
                        let trimmed = text.trim();
                        if !trimmed.is_empty() {
                            map.insert(name, trimmed.to_owned());
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        root_ok.then_some(Reply(map))
    }

    /// The text of element `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `true` when element `name` says `true`.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_leaf_elements_in_any_nesting() {
        let r = Reply::parse(
            "<?xml version=\"1.0\"?>\n<ib_auth_res>\n  <ini_params><M2>null</M2></ini_params>\
             <auth_info><reached_max_login>true</reached_max_login></auth_info>\
             <sftypes>5.2a,4</sftypes><error>a &amp; b</error><empty/></ib_auth_res>",
        )
        .unwrap();
        assert_eq!(r.get("M2"), Some("null"));
        assert!(r.flag("reached_max_login"));
        assert_eq!(r.get("sftypes"), Some("5.2a,4"));
        assert_eq!(r.get("error"), Some("a & b"));
        assert_eq!(r.get("empty"), None);
        assert!(!r.flag("missing"));
    }

    #[test]
    fn html_and_garbage_are_not_replies() {
        assert!(Reply::parse("<html><body>Access Denied</body></html>").is_none());
        assert!(Reply::parse("not xml at all").is_none());
        assert!(Reply::parse("<ib_auth_res><a>1</b></ib_auth_res>").is_none());
    }
}
