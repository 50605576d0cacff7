//! The order services start in: every service after what it depends on.

use std::collections::BTreeMap;

use super::service::Service;

/// A dependency loop, listed from the first service back to itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<String>);

/// Services in start order (dependencies first, then by name); stop in
/// reverse. Every dependency must already be known to exist.
pub fn start_order(services: &BTreeMap<String, Service>) -> Result<Vec<String>, Cycle> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        services: &BTreeMap<String, Service>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), Cycle> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let from = path.iter().position(|p| p == name).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(name.to_string());
                return Err(Cycle(cycle));
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        path.push(name.to_string());
        for dependency in services[name].dependencies() {
            visit(dependency, services, marks, path, order)?;
        }
        path.pop();
        marks.insert(name.to_string(), Mark::Done);
        order.push(name.to_string());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut order = Vec::new();
    for name in services.keys() {
        visit(name, services, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}
