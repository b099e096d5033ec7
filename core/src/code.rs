//! PAM return codes as a Rust type, so no call site can ignore or misread one.
//!
//! Values are Linux-PAM's (`security/_pam_types.h`); descriptions follow `pam_strerror`'s wording,
//! kept here so logs can name a code without a live handle.

use std::fmt;

/// A status returned by a libpam call.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PamCode(pub(crate) i32);

macro_rules! codes {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl PamCode {
            $(#[doc = $text] pub const $name: PamCode = PamCode($value);)*

            /// libpam's own short description of the code.
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($value => $text,)*
                    _ => "Unknown PAM error",
                }
            }

            /// The symbolic name (`PAM_AUTH_ERR`), for logs and test output.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => concat!("PAM_", stringify!($name)),)*
                    _ => "PAM_?",
                }
            }
        }
    };
}

codes! {
    SUCCESS = 0, "Success";
    OPEN_ERR = 1, "Failed to load module";
    SYMBOL_ERR = 2, "Symbol not found";
    SERVICE_ERR = 3, "Error in service module";
    SYSTEM_ERR = 4, "System error";
    BUF_ERR = 5, "Memory buffer error";
    PERM_DENIED = 6, "Permission denied";
    AUTH_ERR = 7, "Authentication failure";
    CRED_INSUFFICIENT = 8, "Insufficient credentials to access authentication data";
    AUTHINFO_UNAVAIL = 9, "Authentication service cannot retrieve authentication info";
    USER_UNKNOWN = 10, "User not known to the underlying authentication module";
    MAXTRIES = 11, "Have exhausted maximum number of retries for service";
    NEW_AUTHTOK_REQD = 12, "Authentication token is no longer valid; new one required";
    ACCT_EXPIRED = 13, "User account has expired";
    SESSION_ERR = 14, "Cannot make/remove an entry for the specified session";
    CRED_UNAVAIL = 15, "Authentication service cannot retrieve user credentials";
    CRED_EXPIRED = 16, "User credentials expired";
    CRED_ERR = 17, "Failure setting user credentials";
    NO_MODULE_DATA = 18, "No module specific data is present";
    CONV_ERR = 19, "Conversation error";
    AUTHTOK_ERR = 20, "Authentication token manipulation error";
    AUTHTOK_RECOVERY_ERR = 21, "Authentication information cannot be recovered";
    AUTHTOK_LOCK_BUSY = 22, "Authentication token lock busy";
    AUTHTOK_DISABLE_AGING = 23, "Authentication token aging disabled";
    TRY_AGAIN = 24, "Failed preliminary check by password service";
    IGNORE = 25, "The return value should be ignored by PAM dispatch";
    ABORT = 26, "Critical error - immediate abort";
    AUTHTOK_EXPIRED = 27, "Authentication token expired";
    MODULE_UNKNOWN = 28, "Module is unknown";
    BAD_ITEM = 29, "Bad item passed to pam_*_item()";
    CONV_AGAIN = 30, "Conversation is waiting for event";
    INCOMPLETE = 31, "Application needs to call libpam again";
}

impl PamCode {
    /// Wraps a raw status from libpam.
    pub fn from_raw(raw: i32) -> Self {
        PamCode(raw)
    }

    /// The raw status, as libpam wants it back (pam_end's last status).
    pub fn raw(self) -> i32 {
        self.0
    }

    pub fn is_success(self) -> bool {
        self == PamCode::SUCCESS
    }

    /// `Ok(())` on success, else the code as an error: every libpam status goes through this.
    pub fn ok(self) -> Result<(), PamCode> {
        if self.is_success() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Debug for PamCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for PamCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.name())
    }
}

impl std::error::Error for PamCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_match_libpam() {
        assert_eq!(PamCode::AUTH_ERR.name(), "PAM_AUTH_ERR");
        assert_eq!(PamCode::from_raw(7), PamCode::AUTH_ERR);
        assert_eq!(PamCode::NEW_AUTHTOK_REQD.raw(), 12);
        assert_eq!(PamCode::INCOMPLETE.raw(), 31);
        assert_eq!(
            PamCode::MAXTRIES.description(),
            "Have exhausted maximum number of retries for service"
        );
        assert_eq!(PamCode::from_raw(99).name(), "PAM_?");
        assert!(PamCode::SUCCESS.ok().is_ok());
        assert_eq!(PamCode::ABORT.ok(), Err(PamCode::ABORT));
    }
}
