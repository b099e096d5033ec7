//! The greeter as a state machine: [`App::update`] takes one [`Event`] (a key, a clock tick, a
//! report from the login daemon's client) and returns the [`Effect`]s the caller must carry out.
//! No I/O happens here, so every screen state and transition is reachable from a unit test, and
//! the view (`view.rs`) is a pure function of this state.
//!
//! What PAM asks is what the card shows: the prompts' texts come from the messages, never from
//! here. Answers are typed straight into [`Secret`]s and handed over, never copied.

use std::time::Duration;

use vestibule_core::{SafeText, Secret, MAX_SECRET_BYTES};
use zeroize::Zeroize;

use vestibule_greeter::card::Card;
pub use vestibule_greeter::card::Note;
use vestibule_greeter::sessions::{self, Choice};
use vestibule_greeter::state::Remembered;
pub use vestibule_greeter::PamEvent;

/// Most notes kept on the card for one attempt; older ones scroll away.
pub const MAX_NOTES: usize = 40;

/// Longest user name accepted in the user field.
pub const MAX_USER_CHARS: usize = 256;

/// A key press, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Backspace,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    F(u8),
    CtrlC,
    CtrlL,
    CtrlU,
}

/// Something that happened.
#[derive(Debug)]
pub enum Event {
    Key(Key),
    /// The clock's new text (sent when it changes).
    Clock(String),
    /// Whether Caps Lock is on (only known on a Linux VT).
    CapsLock(bool),
    Pam(PamEvent),
    /// Something the greeter itself could not do (a power command failed).
    Problem(String),
}

/// The power actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Poweroff,
    Reboot,
}

/// What the caller must do after an update.
#[derive(Debug)]
pub enum Effect {
    /// Start a login for this user.
    StartLogin {
        user: String,
    },
    /// Answers to the current conversation call, one per message.
    Answer(Vec<Option<Secret>>),
    /// Abandon the login (the daemon is told with `cancel_session`).
    Cancel,
    /// Authenticated: ask the daemon for the chosen session (index into [`App::sessions`]); the
    /// choice is remembered in [`App::remembered`] for the state file.
    RunSession {
        user: String,
        session: usize,
    },
    Power(PowerAction),
    /// Clear the terminal and draw everything again.
    Redraw,
    Quit,
}

/// Where the login stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Typing the user name.
    User,
    /// PAM is working (or a notice was shown); nothing to type.
    Busy,
    /// PAM asked: the fields are open.
    Prompt,
    /// The fail delay after a wrong answer.
    Delay(Duration),
    /// Authenticated: the session is asked for, and the greeter leaves once it is accepted.
    Session,
}

/// An overlay over the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Sessions { cursor: usize },
    Confirm(PowerAction),
}

/// One prompt of the current call and what has been typed into it.
#[derive(Debug)]
pub struct Field {
    pub label: SafeText,
    pub hidden: bool,
    pub value: Secret,
}

/// Choices from the configuration that change how the card behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Shown per character in hidden fields; `None`: no feedback.
    pub mask: Option<char>,
    /// The user field's label.
    pub user_prompt: String,
    /// Function keys of the power actions (None: action disabled).
    pub poweroff_key: Option<u8>,
    pub reboot_key: Option<u8>,
    /// Do not pre-fill or keep user names on the card.
    pub hide_user_names: bool,
    /// Session for users with none remembered.
    pub default_session: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mask: Some('*'),
            user_prompt: "login: ".into(),
            poweroff_key: Some(12),
            reboot_key: Some(11),
            hide_user_names: false,
            default_session: None,
        }
    }
}

/// The whole state of the greeter.
#[derive(Debug)]
pub struct App {
    pub settings: Settings,
    pub host: String,
    pub issue: SafeText,
    pub clock: String,
    pub sessions: Vec<Choice>,
    /// Index of the chosen session.
    pub session: usize,
    /// The session was picked by hand: typing a name no longer changes it.
    session_by_hand: bool,
    pub remembered: Remembered,
    pub phase: Phase,
    pub user: String,
    /// What PAM said during this attempt and the call it asks now (shared with the desktop
    /// greeter). Its `since_answer` notes are printed on the plain terminal as the greeter
    /// leaves for the session (a message of the day, "password changed").
    pub card: Card,
    /// The pending call's prompts, with what has been typed into them.
    pub fields: Vec<Field>,
    pub focus: usize,
    pub caps_lock: bool,
    pub popup: Option<Popup>,
}

impl App {
    pub fn new(
        settings: Settings,
        host: String,
        issue: SafeText,
        sessions: Vec<Choice>,
        remembered: Remembered,
    ) -> App {
        let mut app = App {
            settings,
            host,
            issue,
            clock: String::new(),
            sessions: if sessions.is_empty() {
                vec![Choice::shell()]
            } else {
                sessions
            },
            session: 0,
            session_by_hand: false,
            remembered,
            phase: Phase::User,
            user: String::new(),
            card: Card::new(MAX_NOTES),
            fields: Vec::new(),
            focus: 0,
            caps_lock: false,
            popup: None,
        };
        app.fresh_card();
        app
    }

    /// The chosen session.
    pub fn chosen(&self) -> &Choice {
        &self.sessions[self.session.min(self.sessions.len() - 1)]
    }

    /// Whether the focused input hides what is typed (for the Caps Lock warning).
    pub fn typing_hidden(&self) -> bool {
        self.phase == Phase::Prompt && self.fields.get(self.focus).is_some_and(|f| f.hidden)
    }

    /// Whether a login is under way (a worker exists).
    pub fn login_active(&self) -> bool {
        matches!(self.phase, Phase::Busy | Phase::Prompt | Phase::Delay(_))
    }

    /// Applies one event.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Key(key) => self.key(key),
            Event::Clock(text) => {
                if text == self.clock {
                    return vec![];
                }
                self.clock = text;
                vec![Effect::Redraw]
            }
            Event::CapsLock(on) => {
                self.caps_lock = on;
                vec![]
            }
            Event::Pam(p) => self.pam(p),
            Event::Problem(text) => {
                self.card.push(Note::error(&text));
                vec![]
            }
        }
    }

    fn pam(&mut self, event: PamEvent) -> Vec<Effect> {
        match event {
            PamEvent::Messages(messages) => {
                self.focus = 0;
                self.phase = if self.card.messages(&messages) {
                    Phase::Prompt
                } else {
                    Phase::Busy
                };
                self.fields = self
                    .card
                    .prompts()
                    .map(|p| Field {
                        label: p.label.clone(),
                        hidden: p.hidden,
                        value: Secret::new(),
                    })
                    .collect();
                vec![]
            }
            PamEvent::FailDelay(d) => {
                self.phase = Phase::Delay(d);
                vec![]
            }
            PamEvent::Failed(reason) => {
                self.card.push(Note::error(&reason));
                self.end_attempt();
                if self.settings.hide_user_names {
                    self.user.clear();
                }
                vec![]
            }
            PamEvent::SessionStarting => {
                self.phase = Phase::Session;
                self.popup = None;
                let user = self.user.clone();
                // Hidden names are not stored at all: neither as the last user nor as the key
                // of a remembered session.
                if !self.settings.hide_user_names {
                    self.remembered.last_user = Some(user.clone());
                    let id = self.chosen().id.clone();
                    self.remembered.set_session(&user, &id);
                }
                vec![Effect::RunSession {
                    user,
                    session: self.session,
                }]
            }
            PamEvent::SessionEnded(summary) => {
                self.end_attempt();
                self.fresh_card();
                self.card.push(Note::info(&summary));
                vec![Effect::Redraw]
            }
        }
    }

    /// Back to the user field, nothing pending.
    fn end_attempt(&mut self) {
        self.phase = Phase::User;
        self.fields.clear();
        self.card.drop_pending();
        self.focus = 0;
    }

    /// A new card: the remembered user (unless names are hidden) and their session.
    fn fresh_card(&mut self) {
        self.phase = Phase::User;
        self.popup = None;
        self.card.clear();
        self.session_by_hand = false;
        self.user = match (&self.remembered.last_user, self.settings.hide_user_names) {
            (Some(u), false) => u.clone(),
            _ => String::new(),
        };
        self.preselect();
    }

    fn preselect(&mut self) {
        if self.session_by_hand {
            return;
        }
        let remembered = self.remembered.session_of(&self.user);
        self.session = sessions::preselect(
            &self.sessions,
            remembered,
            self.settings.default_session.as_deref(),
        );
    }

    fn key(&mut self, key: Key) -> Vec<Effect> {
        if self.phase == Phase::Session {
            return vec![];
        }
        match key {
            Key::CtrlC => {
                let mut effects = Vec::new();
                if self.login_active() {
                    effects.push(Effect::Cancel);
                }
                effects.push(Effect::Quit);
                return effects;
            }
            Key::CtrlL => return vec![Effect::Redraw],
            _ => {}
        }
        if let Some(popup) = self.popup.clone() {
            return self.popup_key(popup, key);
        }
        if key == Key::F(2) && self.phase != Phase::Session {
            self.popup = Some(Popup::Sessions { cursor: self.session });
            return vec![];
        }
        match self.phase {
            Phase::User => self.user_key(key),
            Phase::Prompt => self.prompt_key(key),
            Phase::Busy | Phase::Delay(_) => {
                if key == Key::Esc {
                    return vec![Effect::Cancel];
                }
                vec![]
            }
            Phase::Session => vec![],
        }
    }

    fn popup_key(&mut self, popup: Popup, key: Key) -> Vec<Effect> {
        match popup {
            Popup::Sessions { cursor } => {
                let last = self.sessions.len() - 1;
                match key {
                    Key::Up | Key::BackTab => {
                        self.popup = Some(Popup::Sessions {
                            cursor: cursor.checked_sub(1).unwrap_or(last),
                        })
                    }
                    Key::Down | Key::Tab | Key::F(2) => {
                        self.popup = Some(Popup::Sessions {
                            cursor: if cursor >= last { 0 } else { cursor + 1 },
                        })
                    }
                    Key::Enter => {
                        self.session = cursor.min(last);
                        self.session_by_hand = true;
                        self.popup = None;
                    }
                    Key::Esc => self.popup = None,
                    _ => {}
                }
                vec![]
            }
            Popup::Confirm(action) => {
                self.popup = None;
                if key == Key::Enter {
                    vec![Effect::Power(action)]
                } else {
                    vec![]
                }
            }
        }
    }

    fn user_key(&mut self, key: Key) -> Vec<Effect> {
        match key {
            Key::Char(c) if !c.is_control() && self.user.chars().count() < MAX_USER_CHARS => {
                self.user.push(c);
                self.preselect();
            }
            Key::Backspace => {
                self.user.pop();
                self.preselect();
            }
            Key::CtrlU | Key::Esc => {
                self.user.clear();
                self.preselect();
            }
            Key::Enter if !self.user.is_empty() => {
                self.card.clear();
                self.phase = Phase::Busy;
                return vec![Effect::StartLogin {
                    user: self.user.clone(),
                }];
            }
            Key::F(n) if Some(n) == self.settings.poweroff_key => {
                self.popup = Some(Popup::Confirm(PowerAction::Poweroff))
            }
            Key::F(n) if Some(n) == self.settings.reboot_key => {
                self.popup = Some(Popup::Confirm(PowerAction::Reboot))
            }
            _ => {}
        }
        vec![]
    }

    fn prompt_key(&mut self, key: Key) -> Vec<Effect> {
        let Some(field) = self.fields.get_mut(self.focus) else {
            return vec![];
        };
        match key {
            Key::Char(c) if c != '\0' => {
                let mut buf = [0u8; 4];
                let bytes = c.encode_utf8(&mut buf).len();
                if field.value.len() + bytes <= MAX_SECRET_BYTES {
                    for &b in &buf[..bytes] {
                        let _ = field.value.push(b);
                    }
                }
                buf.zeroize();
            }
            Key::Backspace => field.value.pop_char(),
            Key::CtrlU => field.value.clear(),
            Key::Up | Key::BackTab => self.focus = self.focus.saturating_sub(1),
            Key::Down | Key::Tab => self.focus = (self.focus + 1).min(self.fields.len() - 1),
            Key::Enter if self.focus + 1 < self.fields.len() => self.focus += 1,
            Key::Enter => return self.submit(),
            Key::Esc => {
                self.fields.clear();
                self.card.drop_pending();
                self.phase = Phase::Busy;
                return vec![Effect::Cancel];
            }
            _ => {}
        }
        vec![]
    }

    /// Hands every field's secret over, one answer per message of the call.
    fn submit(&mut self) -> Vec<Effect> {
        let values = self.fields.drain(..).map(|f| f.value).collect();
        let answers = self.card.answer(values);
        self.focus = 0;
        self.phase = Phase::Busy;
        vec![Effect::Answer(answers)]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vestibule_core::Message;

    pub(crate) fn app() -> App {
        let sessions = vec![Choice::command("Test", vec!["true".into()]), Choice::shell()];
        let remembered = Remembered {
            last_user: Some("alice".into()),
            sessions: vec![("bob".into(), "shell".into())],
        };
        App::new(
            Settings::default(),
            "box".into(),
            SafeText::from_trusted("Debian GNU/Linux 12 box tty1"),
            sessions,
            remembered,
        )
    }

    pub(crate) fn t(s: &str) -> SafeText {
        SafeText::from_trusted(s)
    }

    pub(crate) fn typed(app: &mut App, text: &str) -> Vec<Effect> {
        text.chars()
            .flat_map(|c| app.update(Event::Key(Key::Char(c))))
            .collect()
    }

    pub(crate) fn press(app: &mut App, key: Key) -> Vec<Effect> {
        app.update(Event::Key(key))
    }

    fn pam(app: &mut App, e: PamEvent) -> Vec<Effect> {
        app.update(Event::Pam(e))
    }

    fn answers(effects: Vec<Effect>) -> Vec<Option<Vec<u8>>> {
        match effects.into_iter().next() {
            Some(Effect::Answer(a)) => a.into_iter().map(|s| s.map(|s| s.as_bytes().to_vec())).collect(),
            other => panic!("expected answers, got {other:?}"),
        }
    }

    #[test]
    fn remembered_user_is_prefilled_and_enter_starts_the_login() {
        let mut a = app();
        assert_eq!(a.user, "alice");
        let e = press(&mut a, Key::Enter);
        assert!(matches!(&e[..], [Effect::StartLogin { user }] if user == "alice"));
        assert_eq!(a.phase, Phase::Busy);
    }

    #[test]
    fn hidden_names_are_not_prefilled_and_an_empty_name_does_nothing() {
        let mut a = app();
        a.settings.hide_user_names = true;
        a.fresh_card();
        assert_eq!(a.user, "");
        assert!(press(&mut a, Key::Enter).is_empty());
        assert_eq!(a.phase, Phase::User);
    }

    #[test]
    fn typing_a_name_selects_that_users_session() {
        let mut a = app();
        press(&mut a, Key::CtrlU);
        assert_eq!(a.session, 0);
        typed(&mut a, "bob");
        assert_eq!(a.chosen().id, "shell");
        press(&mut a, Key::Backspace);
        assert_eq!(a.session, 0);
    }

    #[test]
    fn a_batch_shows_its_notes_and_prompts_and_answers_line_up() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![
                Message::Info(t("info 1")),
                Message::PromptHidden(t("Password: ")),
                Message::Error(t("careful")),
                Message::PromptVisible(t("Code: ")),
            ]),
        );
        assert_eq!(a.phase, Phase::Prompt);
        assert_eq!(a.card.notes, [Note::Info(t("info 1")), Note::Error(t("careful"))]);
        assert_eq!(a.fields.len(), 2);
        assert!(a.typing_hidden());
        typed(&mut a, "pw");
        assert!(
            press(&mut a, Key::Enter).is_empty(),
            "enter moves to the next field"
        );
        assert!(!a.typing_hidden());
        typed(&mut a, "42");
        let got = answers(press(&mut a, Key::Enter));
        assert_eq!(got, vec![None, Some(b"pw".to_vec()), None, Some(b"42".to_vec())]);
        assert_eq!(a.phase, Phase::Busy);
        assert!(a.fields.is_empty());
    }

    #[test]
    fn editing_keys_work_on_secrets_by_character() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::PromptHidden(t("Password: "))]),
        );
        typed(&mut a, "añ€");
        press(&mut a, Key::Backspace);
        assert_eq!(a.fields[0].value.as_bytes(), "añ".as_bytes());
        press(&mut a, Key::CtrlU);
        assert!(a.fields[0].value.is_empty());
        typed(&mut a, &"x".repeat(MAX_SECRET_BYTES + 10));
        assert_eq!(a.fields[0].value.len(), MAX_SECRET_BYTES);
    }

    #[test]
    fn wrong_password_delay_message_and_a_fresh_field() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::PromptHidden(t("Password: "))]),
        );
        typed(&mut a, "nope");
        press(&mut a, Key::Enter);
        pam(&mut a, PamEvent::FailDelay(Duration::from_secs(2)));
        assert_eq!(a.phase, Phase::Delay(Duration::from_secs(2)));
        assert!(
            press(&mut a, Key::Char('x')).is_empty(),
            "nothing to type during the delay"
        );
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::Error(t("Login incorrect"))]),
        );
        assert_eq!(a.phase, Phase::Busy);
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::PromptHidden(t("Password: "))]),
        );
        assert!(a.fields[0].value.is_empty());
        assert_eq!(a.card.notes, [Note::Error(t("Login incorrect"))]);
    }

    #[test]
    fn failure_goes_back_to_the_user_field_keeping_pams_words() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::Error(t("Account locked due to 3 failed logins"))]),
        );
        pam(
            &mut a,
            PamEvent::Failed("Maximum number of tries exceeded.".into()),
        );
        assert_eq!(a.phase, Phase::User);
        assert_eq!(a.card.notes.len(), 2);
        assert_eq!(
            a.card.notes[0].text().as_str(),
            "Account locked due to 3 failed logins"
        );
        assert_eq!(a.user, "alice", "the name stays for another try");
        // And the greeter stays usable: a new attempt starts with a clean card.
        assert!(matches!(
            &press(&mut a, Key::Enter)[..],
            [Effect::StartLogin { .. }]
        ));
        assert!(a.card.notes.is_empty());
    }

    #[test]
    fn escape_cancels_a_login_and_ctrl_c_quits() {
        let mut a = app();
        press(&mut a, Key::Enter);
        pam(
            &mut a,
            PamEvent::Messages(vec![Message::PromptHidden(t("Password: "))]),
        );
        assert!(matches!(&press(&mut a, Key::Esc)[..], [Effect::Cancel]));
        let e = press(&mut a, Key::CtrlC);
        assert!(matches!(&e[..], [Effect::Cancel, Effect::Quit]), "{e:?}");
        let mut idle = app();
        assert!(matches!(&press(&mut idle, Key::CtrlC)[..], [Effect::Quit]));
        assert!(matches!(&press(&mut idle, Key::CtrlL)[..], [Effect::Redraw]));
    }

    #[test]
    fn session_start_remembers_and_the_end_brings_a_fresh_card() {
        let mut a = app();
        press(&mut a, Key::CtrlU);
        typed(&mut a, "carol");
        press(&mut a, Key::F(2));
        press(&mut a, Key::Down);
        press(&mut a, Key::Enter);
        assert_eq!(a.chosen().id, "shell");
        press(&mut a, Key::Enter);
        pam(&mut a, PamEvent::Messages(vec![Message::Info(t("Welcome"))]));
        let e = pam(&mut a, PamEvent::SessionStarting);
        assert!(matches!(&e[..], [Effect::RunSession { user, session: 1 }] if user == "carol"));
        assert_eq!(a.card.since_answer, vec![Note::Info(t("Welcome"))]);
        assert_eq!(a.remembered.last_user.as_deref(), Some("carol"));
        assert_eq!(a.remembered.session_of("carol"), Some("shell"));
        assert!(
            press(&mut a, Key::Char('x')).is_empty(),
            "keys belong to the session"
        );
        pam(
            &mut a,
            PamEvent::SessionEnded("Session ended (exit status 0).".into()),
        );
        assert_eq!(a.phase, Phase::User);
        assert_eq!(a.user, "carol");
        assert_eq!(a.chosen().id, "shell");
        assert_eq!(a.card.notes.len(), 1);
    }

    #[test]
    fn hidden_user_names_never_reach_the_state_file() {
        let mut a = app();
        a.settings.hide_user_names = true;
        a.remembered = Remembered::default();
        a.fresh_card();
        typed(&mut a, "carol");
        press(&mut a, Key::Enter);
        let e = pam(&mut a, PamEvent::SessionStarting);
        assert!(matches!(&e[..], [Effect::RunSession { user, .. }] if user == "carol"));
        assert_eq!(a.remembered.render(), "", "no name written: {:?}", a.remembered);
    }

    #[test]
    fn power_keys_ask_for_confirmation() {
        let mut a = app();
        press(&mut a, Key::F(12));
        assert_eq!(a.popup, Some(Popup::Confirm(PowerAction::Poweroff)));
        assert!(press(&mut a, Key::Esc).is_empty());
        assert_eq!(a.popup, None);
        press(&mut a, Key::F(11));
        let e = press(&mut a, Key::Enter);
        assert!(matches!(&e[..], [Effect::Power(PowerAction::Reboot)]));
        a.settings.poweroff_key = None;
        press(&mut a, Key::F(12));
        assert_eq!(a.popup, None, "disabled action");
    }

    #[test]
    fn clock_changes_redraw_everything() {
        let mut a = app();
        assert!(matches!(
            &a.update(Event::Clock("12:00".into()))[..],
            [Effect::Redraw]
        ));
        assert!(a.update(Event::Clock("12:00".into())).is_empty());
        a.update(Event::CapsLock(true));
        assert!(a.caps_lock);
    }
}
