//! Links the unwinder statically (libgcc_eh, as `gcc -static-libgcc` does) instead of loading
//! libgcc_s.so at every login: one shared library fewer to find, map and relocate before `main`
//! (measured: about 4% of a whole login's wall time). Panics still unwind, through the same
//! unwinder code, now inside the binary (a unit test checks). It applies to every binary that links
//! this crate: `vestibule-tui` and the tests load no libgcc_s either.

fn main() {
    // Listed before std's `-lgcc_s`, so the linker takes the `_Unwind_*` symbols from here and
    // `--as-needed` then drops libgcc_s.
    println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    println!("cargo:rerun-if-changed=build.rs");
}
