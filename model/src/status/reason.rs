//! Condition reasons as enums: a reason is part of the contract between
//! the controller that writes it and whoever reads it (another
//! controller, the CLI, the drift report), so both name the same variant
//! instead of repeating a string.

/// A condition reason: CamelCase, machine-readable, stable.
pub trait Reason: Copy {
    fn as_str(self) -> &'static str;
}

/// Declares a reason enum whose `as_str` is the variant's name.
macro_rules! reasons {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$doc:meta])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                }
            }

            /// The variant a stored reason names; `None` for a reason
            /// this version does not know.
            pub fn parse(reason: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|r| r.as_str() == reason)
            }
        }

        impl $crate::status::Reason for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use reasons;
