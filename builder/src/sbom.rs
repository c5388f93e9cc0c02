//! The bundle's software bill of materials: `sbom.spdx.json`, an SPDX 2.3 document listing
//! every package of the bundle with its version, file, SHA-256 and, where the catalog knows
//! it, its licence. Deterministic: the same bundle gives the same bytes.

use pigsty_bundle::manifest::Manifest;
use serde_json::{json, Value};

/// A licence as SPDX wants it: an SPDX identifier as is, anything else as a `LicenseRef-`.
pub fn spdx_license(license: &str) -> String {
    let id: String = license
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() || id.eq_ignore_ascii_case("unknown") {
        return "NOASSERTION".to_string();
    }
    const KNOWN: &[&str] = &[
        "PostgreSQL",
        "Apache-2.0",
        "MIT",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "GPL-2.0",
        "GPL-2.0-only",
        "GPL-2.0-or-later",
        "GPL-3.0",
        "GPL-3.0-only",
        "GPL-3.0-or-later",
        "LGPL-2.1",
        "LGPL-3.0",
        "AGPL-3.0",
        "AGPL-3.0-only",
        "MPL-2.0",
        "ISC",
        "0BSD",
        "Artistic-1.0",
        "Elastic-2.0",
        "Zlib",
        "Artistic-2.0",
        "Unlicense",
        "BSD-0-Clause",
    ];
    if KNOWN.contains(&id.as_str()) {
        id
    } else {
        format!("LicenseRef-{id}")
    }
}

fn spdx_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The SPDX document for a manifest; `license_of` gives a package's licence if known.
pub fn render(
    manifest: &Manifest,
    name: &str,
    license_of: impl Fn(&str) -> Option<String>,
) -> String {
    let distro = match manifest.target.os.distro() {
        "el" => "redhat",
        d => d,
    };
    // The package URL types are the family names: `pkg:rpm/...`, `pkg:deb/...`.
    let purl_type = manifest.family.as_str();
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    let mut refs: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for p in &manifest.packages {
        let id = format!(
            "SPDXRef-Package-{}-{}",
            spdx_id(&p.name),
            spdx_id(&p.version)
        );
        let sha = manifest
            .file(&p.file)
            .map(|f| f.sha256.clone())
            .unwrap_or_default();
        let license = license_of(&p.name)
            .map(|l| spdx_license(&l))
            .unwrap_or_else(|| "NOASSERTION".into());
        if license.starts_with("LicenseRef-") {
            refs.insert(license.clone());
        }
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "packageFileName": p.file,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license,
            "copyrightText": "NOASSERTION",
            "supplier": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": format!("pkg:{purl_type}/{distro}/{}@{}?arch={}", p.name, p.version, p.arch),
            }],
        });
        if !sha.is_empty() {
            pkg["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sha }]);
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": id,
        }));
    }
    let doc: Value = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://spdx.org/spdxdocs/{}-{}", spdx_id(name), manifest.created),
        "creationInfo": {
            "created": crate::date::iso8601(manifest.created),
            "creators": [format!("Tool: {}", manifest.builder.replace(' ', "-"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    let mut doc = doc;
    if !refs.is_empty() {
        // A LicenseRef must be declared in the document.
        doc["hasExtractedLicensingInfos"] = refs
            .iter()
            .map(|r: &String| {
                let name = r.trim_start_matches("LicenseRef-");
                json!({
                    "licenseId": r,
                    "name": name,
                    "extractedText": format!("The licence the extension catalog names `{name}`; not on the SPDX licence list."),
                })
            })
            .collect();
    }
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_refs_are_declared() {
        use pigsty_bundle::manifest::{FileEntry, PackageEntry, SCHEMA};
        use pigsty_bundle::{Arch, Os, Target};
        let m = Manifest {
            schema: SCHEMA,
            target: Target::new(Os::D12, Arch::X86_64, 17),
            version: "v".into(),
            builder: "pigsty-build 0.1.0".into(),
            catalog: "c".into(),
            created: 1_700_000_000,
            files: vec![FileEntry {
                path: "a_1_amd64.deb".into(),
                size: 1,
                sha256: "0".repeat(64),
            }],
            packages: vec![PackageEntry {
                name: "a".into(),
                version: "1".into(),
                arch: "amd64".into(),
                file: "a_1_amd64.deb".into(),
                repo: "r".into(),
                wanted_by: vec![],
            }],
            bootstrap: vec![],
            handoff: None,
            key_fingerprint: None,
            family: pigsty_bundle::Family::Deb,
            package_keys: Vec::new(),
            base: None,
        };
        let doc: Value =
            serde_json::from_str(&render(&m, "b", |_| Some("Timescale".into()))).unwrap();
        assert_eq!(
            doc["packages"][0]["licenseDeclared"],
            "LicenseRef-Timescale"
        );
        assert_eq!(
            doc["hasExtractedLicensingInfos"][0]["licenseId"],
            "LicenseRef-Timescale"
        );
        assert_eq!(
            doc["packages"][0]["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/a@1?arch=amd64"
        );
        assert_eq!(render(&m, "b", |_| None), render(&m, "b", |_| None));
    }

    #[test]
    fn licences_and_dates() {
        assert_eq!(spdx_license("PostgreSQL"), "PostgreSQL");
        assert_eq!(spdx_license("Timescale"), "LicenseRef-Timescale");
        assert_eq!(spdx_license("0BSD"), "0BSD");
        assert_eq!(spdx_license("Unknown"), "NOASSERTION");
        assert_eq!(spdx_license(""), "NOASSERTION");
        assert_eq!(crate::date::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(crate::date::iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(crate::date::iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }
}
