fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match hareconcile_model::load::load_paths(&args) {
        Ok(m) => println!("ok: {}", m.len()),
        Err(e) => println!("{e}"),
    }
}
