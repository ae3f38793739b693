//! The Gateway API release asset `standard-install.yaml` (v1.6.1), which the router step fetches
//! pinned by sha256 when `router.kind: gateway-api`. No internet here: the journeys put the asset
//! where a previous download would have left it (the user's cache,
//! `<cache>/downloads/<sha256>/standard-install.yaml`, drivers::fetch `path_for`), rebuilt from
//! ../shared/contracts/crds (the same documents without their comments) exactly as the release
//! builds it: kubernetes-sigs/gateway-api v1.6.1 `hack/build-install-yaml.sh` writes
//! `hack/boilerplate/boilerplate.sh.txt` (no year in it), a `# Gateway API Standard channel
//! install` banner, then for each `config/crd/standard/gateway*.yaml` in name order `---`, a
//! `# <path>` header and the file. The rebuilt bytes must hash to the pin bootstrap holds
//! (`core::router::GATEWAY_API_CRDS.sha256`), so nothing here can make the
//! router step accept other bytes.

use std::path::{Path, PathBuf};

/// hack/boilerplate/boilerplate.sh.txt at v1.6.1 (a license header, comments only).
const BOILERPLATE: &str = "# Copyright The Kubernetes Authors.
#
# Licensed under the Apache License, Version 2.0 (the \"License\");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an \"AS IS\" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

";

/// The release asset's bytes, rebuilt from the contracts copy; panics if they do not hash to
/// bootstrap's pin.
pub fn standard_install() -> Vec<u8> {
    let path = super::charts::contracts().join("crds/gateway-api-v1.6.1-standard-install.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = String::from(BOILERPLATE);
    out.push_str("#\n# Gateway API Standard channel install\n#\n");
    // The documents, each opened by `---`; a file's second document (the safe-upgrades
    // ValidatingAdmissionPolicyBinding) follows its first without a header of its own.
    let mut lines = text.lines().peekable();
    let mut in_vap = false;
    while let Some(line) = lines.next() {
        if line == "---" {
            out.push_str("---\n");
            let mut doc = Vec::new();
            while let Some(l) = lines.peek() {
                if *l == "---" {
                    break;
                }
                doc.push(lines.next().unwrap());
            }
            let body = doc.join("\n");
            let file = if body.contains("kind: CustomResourceDefinition") {
                let name = doc
                    .iter()
                    .find_map(|l| l.strip_prefix("  name: "))
                    .expect("a CRD's metadata.name");
                let plural = name
                    .strip_suffix(".gateway.networking.k8s.io")
                    .expect("a Gateway API CRD");
                Some(format!("gateway.networking.k8s.io_{plural}.yaml"))
            } else if !in_vap {
                in_vap = true;
                Some("gateway.networking.k8s.io_vap_safeupgrades.yaml".to_owned())
            } else {
                None
            };
            if let Some(f) = file {
                out.push_str(&format!("#\n# config/crd/standard/{f}\n#\n"));
            }
            out.push_str(&body);
            out.push('\n');
        }
    }
    let bytes = out.into_bytes();
    use sha2::Digest;
    let sum: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        sum,
        bootstrap::core::router::GATEWAY_API_CRDS.sha256,
        "the rebuilt standard-install.yaml does not hash to bootstrap's pin"
    );
    bytes
}

/// Leave the asset in bootstrap's download cache under `cache_root` (what `$XDG_CACHE_HOME/
/// bootstrap` or `~/.cache/bootstrap` is), as a previous download would have.
pub fn seed_cache(cache_root: &Path) -> PathBuf {
    let sha = bootstrap::core::router::GATEWAY_API_CRDS.sha256;
    let dir = cache_root.join("downloads").join(sha);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("standard-install.yaml");
    std::fs::write(&file, standard_install()).unwrap();
    file
}
