//! The Compose controller: reads Docker Compose files and keeps their
//! containers running (or stopped) through the Docker Engine API, with the
//! names and labels Docker Compose itself uses, so `docker-compose ps` and
//! friends keep working on a stack hareconcile manages.

pub mod controller;
pub mod drift;
pub mod engine;
pub mod events;
pub mod exclusive;
pub mod file;
pub mod health;
mod images;
mod placement;
pub mod shutdown;
mod validation;

pub use controller::{load_project, ServiceReconciler};
pub use placement::Placement;
pub use validation::{ComposeFiles, COMPOSE_FILES_ANNOTATION};
