wit_bindgen::generate!({
    path: ["../wit/host", "../wit/pack"],
    world: "helmdeck:pack/pack",
    pub_export_macro: true,
    export_macro_name: "export_handler",
    default_bindings_module: "helmdeck_sdk::bindings",
    generate_all,
});
