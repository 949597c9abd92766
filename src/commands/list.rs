//! `strata list`, `strata presets` and `strata packs`: read-only listings.

use anyhow::Result;

use crate::cli::{ListArgs, PacksArgs, PresetsArgs};
use crate::model::pack;
use crate::model::settings::leaf_keys;
use crate::util::term::{out, outln};
use crate::write::workspace::Workspace;

pub fn run(args: &ListArgs) -> Result<()> {
    let workspace = Workspace::open(&args.dir)?;
    let inventory = crate::check::inventory::inventory(&workspace);
    // The verdict (exit 1 on drift) stands even when stdout went away (`strata list | head`).
    let printed = if args.json {
        super::output::set_result(&inventory)
    } else {
        out!("{inventory}")
    };
    if inventory.consistent {
        return Ok(printed?);
    }
    Err(crate::util::error::Refusal {
        message: format!(
            "the workspace has drifted from `strata.toml` ({} finding(s))",
            inventory.drift.len()
        ),
        details: inventory.drift,
        hint: "restore the missing files from git, or remove what strata no longer knows"
            .to_string(),
    }
    .into())
}

pub fn presets(args: &PresetsArgs) -> Result<()> {
    let mut listed = Vec::new();
    for name in pack::preset_names() {
        let text = pack::preset_text(name).map_err(crate::util::problem::Problems::from)?;
        let table: toml::Table = toml::from_str(text)?;
        let description = table
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or_default();
        let marker = if name == pack::DEFAULT_PRESET {
            " (default)"
        } else {
            ""
        };
        if !args.json {
            outln!("{name:<12} {description}{marker}")?;
        }
        let mut keys = serde_json::Map::new();
        if args.keys {
            let mut settings = table.clone();
            settings.remove("description");
            settings.remove("defaults");
            for key in leaf_keys(&settings, "") {
                let mut current = toml::Value::Table(settings.clone());
                for part in key.split('.') {
                    current = current
                        .get(part)
                        .cloned()
                        .unwrap_or(toml::Value::String(String::new()));
                }
                if !args.json {
                    outln!("  {key} = {current}")?;
                }
                keys.insert(key, serde_json::to_value(&current)?);
            }
        }
        listed.push(serde_json::json!({
            "name": name,
            "description": description,
            "default": name == pack::DEFAULT_PRESET,
            "keys": args.keys.then_some(keys),
        }));
    }
    if args.json {
        super::output::set_result(&serde_json::json!({ "presets": listed }))?;
    }
    Ok(())
}

pub fn packs(args: &PacksArgs) -> Result<()> {
    if args.json {
        let listed: Vec<serde_json::Value> = pack::packs()
            .iter()
            .map(|info| {
                serde_json::json!({
                    "name": info.name,
                    "description": info.description,
                    "default": info.name == pack::DEFAULT_PACK,
                })
            })
            .collect();
        super::output::set_result(&serde_json::json!({ "packs": listed }))?;
        return Ok(());
    }
    for info in pack::packs() {
        let marker = if info.name == pack::DEFAULT_PACK {
            " (default)"
        } else {
            ""
        };
        outln!("{:<16} {}{marker}", info.name, info.description)?;
    }
    Ok(())
}
