//! The screen as a pure function of [`App`]: no terminal access, so it is tested with ratatui's
//! `TestBackend` by asserting what is on screen.
//!
//! When the terminal is too small for everything, what matters most stays: the field being typed
//! into and the status line, then the user and session lines, then PAM's newest messages, then
//! the issue text. Colours are the 16 basic ones (TERM=linux).

use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

use crate::app::{App, Note, Phase, Popup, PowerAction};

/// Widest the card gets, in columns.
pub const CARD_WIDTH: u16 = 76;

/// One screen row of the card: its text (already fitting the width) and style.
#[derive(Debug, Clone)]
struct Row {
    text: String,
    style: Style,
}

/// A block of rows, with the cursor's place in it if the cursor belongs there.
#[derive(Debug, Default)]
struct Section {
    rows: Vec<Row>,
    cursor: Option<(usize, u16)>,
}

impl Section {
    fn push(&mut self, text: &str, style: Style, width: u16) {
        for line in text.split('\n') {
            for piece in wrap(line, width) {
                self.rows.push(Row { text: piece, style });
            }
        }
    }

    /// Adds a field (label + shown value) and puts the cursor after it when `focused`.
    fn field(&mut self, text: &str, style: Style, width: u16, focused: bool) {
        self.push(text, style, width);
        if focused {
            let last = self.rows.len() - 1;
            let col = text_width(&self.rows[last].text).min(width.saturating_sub(1) as usize);
            self.cursor = Some((last, col as u16));
        }
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    frame.render_widget(Clear, area);
    if area.width < 4 || area.height < 3 {
        return;
    }
    let hints = hints(app);
    let footer = area.height >= 12 && !hints.is_empty();
    let room = Rect {
        height: area.height - u16::from(footer),
        ..area
    };
    let width = room.width.min(CARD_WIDTH);
    let inner_width = width - 2;
    let (rows, cursor) = card_rows(app, inner_width, room.height - 2);
    let height = (rows.len() as u16 + 2).min(room.height);
    let card = Rect {
        x: room.x + (room.width - width) / 2,
        y: room.y + (room.height - height) / 2,
        width,
        height,
    };
    let block = Block::bordered()
        .title(Line::from(format!(" {} ", app.host)).left_aligned())
        .title(Line::from(format!(" {} ", app.clock)).right_aligned());
    let lines: Vec<Line> = rows.into_iter().map(|r| Line::styled(r.text, r.style)).collect();
    frame.render_widget(Paragraph::new(lines).block(block), card);
    if footer {
        let line = Line::styled(hints, Style::default().fg(Color::DarkGray)).centered();
        let y = area.y + area.height - 1;
        frame.render_widget(Paragraph::new(line), Rect { y, height: 1, ..area });
    }
    match &app.popup {
        Some(popup) => draw_popup(frame, app, popup, area),
        None => {
            if let Some((row, col)) = cursor {
                frame.set_cursor_position(Position {
                    x: card.x + 1 + col,
                    y: card.y + 1 + row as u16,
                });
            }
        }
    }
}

/// The card's rows for an inner size, and where the cursor goes.
fn card_rows(app: &App, width: u16, height: u16) -> (Vec<Row>, Option<(usize, u16)>) {
    let plain = Style::default();
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let dim = Style::default().fg(Color::DarkGray);

    let mut issue = Section::default();
    if !app.issue.is_empty() {
        issue.push(app.issue.as_str(), Style::default().fg(Color::Cyan), width);
        issue.push("", plain, width);
    }

    let mut who = Section::default();
    let user_text = format!("{}{}", app.settings.user_prompt, app.user);
    let user_style = if app.phase == Phase::User { bold } else { plain };
    who.field(&user_text, user_style, width, app.phase == Phase::User);
    who.push(&format!("Session: {}", app.chosen().name), plain, width);

    let mut notes = Section::default();
    for note in &app.card.notes {
        match note {
            Note::Info(t) => notes.push(t.as_str(), plain, width),
            Note::Error(t) => notes.push(
                t.as_str(),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                width,
            ),
        }
    }

    let mut input = Section::default();
    for (i, field) in app.fields.iter().enumerate() {
        let shown = if field.hidden {
            app.settings
                .mask
                .map(|m| m.to_string().repeat(field.value.char_count()))
                .unwrap_or_default()
        } else {
            String::from_utf8_lossy(field.value.as_bytes()).into_owned()
        };
        let focused = i == app.focus && app.phase == Phase::Prompt;
        let style = if focused { bold } else { plain };
        input.field(&format!("{}{}", field.label, shown), style, width, focused);
    }
    match app.phase {
        Phase::Delay(d) => input.push(
            &format!("Please wait ({:.1} s)…", d.as_secs_f32()),
            Style::default().fg(Color::Yellow),
            width,
        ),
        Phase::Busy => input.push("…", dim, width),
        _ => {}
    }
    if app.caps_lock && app.typing_hidden() {
        input.push(
            "Caps Lock is on",
            Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            width,
        );
    }

    fit(height as usize, issue, who, notes, input)
}

/// Keeps what matters most within `height` rows; returns the rows and the cursor.
fn fit(
    height: usize,
    mut issue: Section,
    mut who: Section,
    mut notes: Section,
    mut input: Section,
) -> (Vec<Row>, Option<(usize, u16)>) {
    // The input's tail (the focused field is near it), then who, then the newest notes, then issue.
    if input.rows.len() > height {
        let cut = input.rows.len() - height;
        input.rows.drain(..cut);
        input.cursor = input.cursor.and_then(|(r, c)| r.checked_sub(cut).map(|r| (r, c)));
    }
    let mut left = height - input.rows.len();
    if who.rows.len() > left {
        who.rows.truncate(left);
        who.cursor = who.cursor.filter(|(r, _)| *r < left);
    }
    left -= who.rows.len();
    if notes.rows.len() > left {
        let cut = notes.rows.len() - left;
        notes.rows.drain(..cut);
    }
    left -= notes.rows.len();
    issue.rows.truncate(left);

    let mut rows = issue.rows;
    let mut cursor = None;
    for section in [who, notes, input] {
        if let Some((r, c)) = section.cursor {
            cursor = Some((rows.len() + r, c));
        }
        rows.extend(section.rows);
    }
    (rows, cursor)
}

/// The key help under the card.
fn hints(app: &App) -> String {
    let mut parts = vec!["F2 session".to_owned()];
    if app.phase == Phase::User {
        if let Some(k) = app.settings.reboot_key {
            parts.push(format!("F{k} reboot"));
        }
        if let Some(k) = app.settings.poweroff_key {
            parts.push(format!("F{k} power off"));
        }
    } else {
        parts.push("Esc cancel".into());
    }
    parts.join("  ")
}

fn draw_popup(frame: &mut Frame<'_>, app: &App, popup: &Popup, area: Rect) {
    let (title, lines): (&str, Vec<Line>) = match popup {
        Popup::Sessions { cursor } => (
            " Session ",
            app.sessions
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let style = if i == *cursor {
                        Style::default().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::default()
                    };
                    Line::styled(format!(" {} ", s.name), style)
                })
                .collect(),
        ),
        Popup::Confirm(action) => {
            let what = match action {
                PowerAction::Poweroff => "Power off this machine?",
                PowerAction::Reboot => "Reboot this machine?",
            };
            (
                " Confirm ",
                vec![Line::from(what), Line::from("Enter: yes   any other key: no")],
            )
        }
    };
    let widest = lines.iter().map(Line::width).max().unwrap_or(0) as u16;
    let width = (widest + 2).max(title.len() as u16 + 2).min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), rect);
}

fn text_width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Splits one line into rows at most `width` columns wide, breaking after the last space of a row
/// when there is one (a word longer than the row is cut, as a terminal would).
fn wrap(line: &str, width: u16) -> Vec<String> {
    let width = usize::from(width.max(1));
    let mut out = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width && !current.is_empty() {
            if c == ' ' {
                // The break falls on this space: it is not carried to the next row.
                out.push(std::mem::take(&mut current));
                used = 0;
                continue;
            }
            match current.rfind(' ') {
                Some(i) if i > 0 => {
                    let carried = current[i + 1..].to_owned();
                    current.truncate(i);
                    out.push(std::mem::replace(&mut current, carried));
                    used = text_width(&current);
                }
                _ => {
                    out.push(std::mem::take(&mut current));
                    used = 0;
                }
            }
        }
        current.push(c);
        used += w;
    }
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use vestibule_core::Message;

    use super::*;
    use crate::app::tests::{app, press, t, typed};
    use crate::app::{Event, Key, PamEvent};

    fn render(app: &App, w: u16, h: u16) -> (Vec<String>, Option<Position>) {
        use ratatui::backend::Backend;
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        // A sentinel: the cursor only moves there if the view shows it.
        let away = Position::new(999, 999);
        term.backend_mut().set_cursor_position(away).unwrap();
        term.draw(|f| draw(f, app)).unwrap();
        let cursor = Some(term.backend_mut().get_cursor_position().unwrap()).filter(|p| *p != away);
        let buf = term.backend().buffer().clone();
        let rows = (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect();
        (rows, cursor)
    }

    fn screen(rows: &[String]) -> String {
        rows.join("\n")
    }

    fn pam(a: &mut App, e: PamEvent) {
        a.update(Event::Pam(e));
    }

    #[test]
    fn the_card_shows_host_clock_issue_user_and_session() {
        let mut a = app();
        a.update(Event::Clock("Mon 23 Nov 12:00".into()));
        let (rows, cursor) = render(&a, 100, 30);
        let s = screen(&rows);
        assert!(s.contains(" box "), "{s}");
        assert!(s.contains("Mon 23 Nov 12:00"), "{s}");
        assert!(s.contains("Debian GNU/Linux 12 box tty1"), "{s}");
        assert!(s.contains("login: alice"), "{s}");
        assert!(s.contains("Session: Test"), "{s}");
        assert!(s.contains("F2 session  F11 reboot  F12 power off"), "{s}");
        let row = rows.iter().position(|r| r.contains("login: alice")).unwrap();
        let byte = rows[row].find("login: alice").unwrap();
        let col = rows[row][..byte].chars().count() + "login: alice".len();
        assert_eq!(cursor, Some(Position::new(col as u16, row as u16)));
    }

    #[test]
    fn prompts_are_pams_words_and_secrets_are_masked() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![
                Message::Info(t("Welcome to the machine")),
                Message::PromptHidden(t("Secret word, please: ")),
                Message::PromptVisible(t("Verification code: ")),
            ]),
        );
        typed(&mut a, "hunter2");
        press(&mut a, Key::Enter);
        typed(&mut a, "123");
        let s = screen(&render(&a, 100, 30).0);
        assert!(s.contains("Welcome to the machine"), "{s}");
        assert!(s.contains("Secret word, please: *******"), "{s}");
        assert!(s.contains("Verification code: 123"), "{s}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(!s.contains("Password"), "no prompt text of our own: {s}");

        a.settings.mask = None;
        let s = screen(&render(&a, 100, 30).0);
        assert!(s.contains("Secret word, please:  "), "{s}");
        assert!(!s.contains('*'), "no feedback at all: {s}");
    }

    #[test]
    fn the_fail_delay_and_caps_lock_are_shown() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::PromptHidden(t("Password: "))]),
        );
        a.update(Event::CapsLock(true));
        assert!(screen(&render(&a, 100, 30).0).contains("Caps Lock is on"));
        press(&mut a, Key::Enter);
        pam(&mut a, PamEvent::FailDelay(Duration::from_millis(2000)));
        let s = screen(&render(&a, 100, 30).0);
        assert!(s.contains("Please wait (2.0 s)"), "{s}");
        assert!(!s.contains("Caps Lock"), "only over hidden fields: {s}");
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::Error(t("Login incorrect"))]),
        );
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::PromptHidden(t("Password: "))]),
        );
        let s = screen(&render(&a, 100, 30).0);
        assert!(s.contains("Login incorrect"), "{s}");
        assert!(s.contains("Password: "), "{s}");
        assert!(!s.contains("Password: *"), "cleared: {s}");
    }

    #[test]
    fn hostile_and_huge_text_stays_inside_the_card() {
        let mut a = app();
        press(&mut a, Key::Enter);
        let evil = vestibule_core::SafeText::from_module(b"\x1b[2J\x1b]0;pwned\x07 \xc2\x9b31m");
        let huge = vestibule_core::SafeText::from_module(&vec![b'A'; 65536]);
        pam(
            &mut a,
            PamEvent::Messages(vec![
                Message::Info(evil),
                Message::Error(huge),
                Message::PromptHidden(t("Password: ")),
            ]),
        );
        let (rows, cursor) = render(&a, 100, 30);
        let s = screen(&rows);
        assert!(!s.contains('\u{1b}'), "{s}");
        assert!(s.contains("63488"), "{s}");
        assert!(s.contains("Password: "), "the prompt survives: {s}");
        assert!(cursor.is_some());
        // Every row of the card is framed: nothing spilled over the border.
        let top = rows.iter().position(|r| r.contains('┌')).unwrap();
        let bottom = rows.iter().position(|r| r.contains('└')).unwrap();
        let left = rows[top].chars().position(|c| c == '┌').unwrap();
        for r in &rows[top..=bottom] {
            assert!(matches!(r.chars().nth(left), Some('│' | '┌' | '└')), "{s}");
        }
    }

    #[test]
    fn long_lines_wrap_between_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("aaa bbbbbbbbb", 5), ["aaa", "bbbbb", "bbbb"]);
        assert_eq!(wrap("", 5), [""]);
        assert_eq!(wrap("ab", 0), ["a", "b"]);
        assert_eq!(wrap("密码密码", 5), ["密码", "密码"]);
    }

    #[test]
    fn escape_sequences_are_shown_as_text() {
        let mut a = app();
        press(&mut a, Key::Enter);
        let evil = vestibule_core::SafeText::from_module(b"\x1b[2J\x1b]0;pwned\x07 \xc2\x9b31m");
        pam(&mut a, PamEvent::Messages(vec![Message::Info(evil)]));
        let s = screen(&render(&a, 100, 30).0);
        assert!(s.contains("^[[2J^[]0;pwned^G <U+009B>31m"), "{s}");
    }

    #[test]
    fn tiny_terminals_keep_the_prompt() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::PromptHidden(t("Password: "))]),
        );
        typed(&mut a, "abc");
        let (rows, cursor) = render(&a, 20, 6);
        let s = screen(&rows);
        assert!(s.contains("Password: ***"), "{s}");
        assert!(cursor.is_some());
        for (w, h) in [(1, 1), (3, 2), (4, 3), (20, 6), (5, 40), (200, 3)] {
            render(&a, w, h);
        }
        press(&mut a, Key::F(2));
        render(&a, 20, 6);
        render(&a, 4, 3);
    }

    #[test]
    fn popups_show_sessions_and_confirmations() {
        let mut a = app();
        press(&mut a, Key::F(2));
        let (rows, cursor) = render(&a, 100, 30);
        let s = screen(&rows);
        assert!(s.contains(" Test ") && s.contains(" Shell "), "{s}");
        assert!(cursor.is_none());
        press(&mut a, Key::Esc);
        press(&mut a, Key::F(12));
        assert!(screen(&render(&a, 100, 30).0).contains("Power off this machine?"));
    }
}
