//! The Compose controller: reads Docker Compose files and keeps their
//! containers running (or stopped) through the Docker Engine API, with the
//! names and labels Docker Compose itself uses, so `docker-compose ps` and
//! friends keep working on a stack hareconcile manages.

pub mod engine;
pub mod file;
