//! The functional core: everything here is pure (no I/O: drivers read the files and pass their
//! text in), so every decision is unit-tested without Docker, a cluster or a network.

pub mod access;
pub mod argocd;
pub mod boolean;
pub mod charts;
pub mod cluster_diff;
pub mod config;
pub mod exposure;
pub mod images;
pub mod kubeconfig;
pub mod labels;
pub mod objects;
pub mod observed;
pub mod ownership;
pub mod plan;
pub mod ports;
pub mod release;
pub mod render;
pub mod router;
pub mod verify;
pub mod version;
pub mod yaml_error;
pub mod zone;

/// strum derives the names of the core's enums (what the file accepts, what tables print) and
/// serde writes their JSON: one test ties the two, for every enum whose names strum derives.
#[cfg(test)]
mod tests {
    use serde::Serialize;
    use strum::{VariantArray, VariantNames};

    /// strum's name of each variant is the one serde writes.
    fn agree<E: VariantArray + Serialize + Copy + Into<&'static str>>() {
        for v in E::VARIANTS {
            assert_eq!(serde_json::to_value(v).unwrap(), (*v).into());
        }
    }

    /// Each name the file accepts parses to the variant serde writes under that name.
    fn parses<E: VariantNames + std::str::FromStr + Serialize + Copy + Into<&'static str>>() {
        for name in E::VARIANTS {
            let Ok(v) = name.parse::<E>() else {
                panic!("{name} does not parse")
            };
            assert_eq!(serde_json::to_value(v).unwrap(), *name);
            assert_eq!(v.into(), *name);
        }
    }

    #[test]
    fn strum_names_are_serde_names() {
        use super::config::{AccessMode, Protocol, Provider, RouterService, VclusterAccess};
        agree::<super::zone::Zone>();
        agree::<super::plan::Op>();
        agree::<super::verify::diagnose::Layer>();
        parses::<Provider>();
        parses::<Protocol>();
        parses::<RouterService>();
        parses::<VclusterAccess>();
        parses::<AccessMode>();
        assert_eq!(
            AccessMode::NAMES,
            ["auto", "host", "devcontainer", "wsl2", "kind-network"]
        );
    }
}
