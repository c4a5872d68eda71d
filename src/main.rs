fn main() {
    println!("netbox-secrets-proxy: under construction");
}
