//! Server-sent events, the wire format of every streaming LLM API.
//!
//! A small, incremental parser of the `text/event-stream` format as the HTML
//! standard defines it: bytes go in as the network delivers them (a chunk may
//! end anywhere, even inside a line terminator or a UTF-8 sequence), complete
//! events come out. Lines end in LF, CRLF or CR; `data:` lines accumulate,
//! joined by newlines; `event:` names the event; comments (lines starting
//! with `:`) and the `id:` and `retry:` fields are ignored, because no LLM
//! API relies on reconnection. An event without data is not dispatched, and
//! an event left incomplete when the stream ends is discarded.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty when absent (the standard's "message").
    pub event: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Turns a byte stream into [`SseEvent`]s, chunk by chunk.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The bytes of the line being read (not yet terminated).
    line: Vec<u8>,
    /// The last chunk ended in CR: an LF at the start of the next one belongs
    /// to the same terminator.
    after_cr: bool,
    /// At least one line was seen (a byte-order mark may precede the first).
    started: bool,
    event: String,
    /// Data lines of the pending event, each followed by `\n`.
    data: String,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next `bytes` of the stream; returns the events they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..end]);
            let crlf = bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n');
            if bytes[end] == b'\r' && end + 1 == bytes.len() {
                self.after_cr = true;
            }
            bytes = &bytes[end + if crlf { 2 } else { 1 }..];
            self.end_line(&mut events);
        }
        self.line.extend_from_slice(bytes);
        events
    }

    /// Whether bytes of an unfinished event are pending (at the end of a
    /// stream, they are discarded).
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || !self.data.is_empty() || !self.event.is_empty()
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let bytes = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&bytes);
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_string().into();
            }
        }
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            if let Some(data) = self.data.strip_suffix('\n') {
                events.push(SseEvent {
                    event,
                    data: data.to_string(),
                });
            }
            self.data.clear();
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => self.event = value.to_string(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    fn parse_whole(text: &str) -> Vec<SseEvent> {
        SseParser::new().feed(text.as_bytes())
    }

    const STREAM: &str = ": keep-alive comment\n\
        event: message_start\n\
        data: {\"a\":1}\n\
        \n\
        data: first line\n\
        data:second line\n\
        data\n\
        id: 7\n\
        retry: 100\n\
        \n\
        data: héllo ✓\n\
        \n\
        event: ping\n\
        \n\
        data: [DONE]\n\
        \n";

    fn expected() -> Vec<SseEvent> {
        vec![
            event("message_start", r#"{"a":1}"#),
            event("", "first line\nsecond line\n"),
            event("", "héllo ✓"),
            event("", "[DONE]"),
        ]
    }

    #[test]
    fn parses_fields_multi_line_data_and_comments() {
        assert_eq!(parse_whole(STREAM), expected());
    }

    #[test]
    fn crlf_and_cr_terminators_are_equivalent_to_lf() {
        assert_eq!(parse_whole(&STREAM.replace('\n', "\r\n")), expected());
        assert_eq!(parse_whole(&STREAM.replace('\n', "\r")), expected());
    }

    #[test]
    fn chunk_boundaries_anywhere_give_the_same_events() {
        for text in [STREAM.to_string(), STREAM.replace('\n', "\r\n")] {
            let bytes = text.as_bytes();
            for size in 1..=7 {
                let mut parser = SseParser::new();
                let events: Vec<_> = bytes.chunks(size).flat_map(|c| parser.feed(c)).collect();
                assert_eq!(events, expected(), "chunks of {size} bytes");
            }
            for split in 0..=bytes.len() {
                let mut parser = SseParser::new();
                let mut events = parser.feed(&bytes[..split]);
                events.extend(parser.feed(&bytes[split..]));
                assert_eq!(events, expected(), "split at byte {split}");
            }
        }
    }

    #[test]
    fn a_cr_at_a_chunk_end_then_lf_is_one_terminator() {
        let mut parser = SseParser::new();
        assert!(parser.feed(b"data: x\r").is_empty());
        assert_eq!(parser.feed(b"\n\r"), vec![event("", "x")]);
        assert!(parser.feed(b"\ndata: y\r\r").len() == 1);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_partial_ones_wait() {
        let mut parser = SseParser::new();
        assert!(parser.feed(b"event: x\n\n\n").is_empty());
        assert!(!parser.has_partial_event());
        assert!(parser.feed(b"data: unfinished").is_empty());
        assert!(parser.has_partial_event());
        assert_eq!(parser.feed(b"\n\n"), vec![event("", "unfinished")]);
        assert!(!parser.has_partial_event());
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped_and_a_space_only_stripped_once() {
        let events = parse_whole("\u{feff}data:  two spaces\n\n");
        assert_eq!(events, vec![event("", " two spaces")]);
    }
}
