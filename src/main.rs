fn main() {
    println!("basalt {}", env!("CARGO_PKG_VERSION"));
}
