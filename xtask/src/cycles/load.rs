//! Reading a crate's module tree: `mod` declarations followed to their files, inline modules
//! split off, test-only modules left out.

use std::io;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Item, Lit, Meta};

use super::{Module, Source};

/// Adds the module `path` whose source `text` is in `file`, and its submodules, to `out`.
/// `mod_rs`: the file is a crate root, a `mod.rs` or loaded through `#[path]`, so the files of
/// its submodules are beside it rather than in a directory named after it.
pub(super) fn load_file(
    source: &dyn Source,
    path: Vec<String>,
    file: &Path,
    text: &str,
    mod_rs: bool,
    out: &mut Vec<Module>,
) -> Result<()> {
    let parsed = syn::parse_file(text).with_context(|| format!("parsing {}", file.display()))?;
    let here = file.parent().unwrap_or(Path::new("")).to_path_buf();
    let dir = match (mod_rs, file.file_stem()) {
        (false, Some(stem)) => here.join(stem),
        _ => here.clone(),
    };
    add_items(source, path, file, &dir, &here, parsed.items, out)
}

/// Adds module `path` with `items` (from `file`) to `out`. `dir`: where `mod x;` looks for `x.rs`
/// and `x/mod.rs`; `path_base`: what a `#[path]` is relative to.
fn add_items(
    source: &dyn Source,
    path: Vec<String>,
    file: &Path,
    dir: &Path,
    path_base: &Path,
    items: Vec<Item>,
    out: &mut Vec<Module>,
) -> Result<()> {
    let mut own = Vec::new();
    for item in items {
        let Item::Mod(module) = item else {
            own.push(item);
            continue;
        };
        let name = module.ident.unraw().to_string();
        if name == "tests" || is_test_only(&module.attrs) {
            continue;
        }
        let mut child = path.clone();
        child.push(name.clone());
        if let Some((_, items)) = module.content {
            let inner = dir.join(&name);
            add_items(source, child, file, &inner, &inner, items, out)?;
            continue;
        }
        let candidates = match path_attribute(&module.attrs) {
            Some(p) => vec![(path_base.join(p), true)],
            None => vec![
                (dir.join(format!("{name}.rs")), false),
                (dir.join(&name).join("mod.rs"), true),
            ],
        };
        let mut loaded = false;
        for (candidate, mod_rs) in &candidates {
            match source.read(candidate) {
                Ok(text) => {
                    load_file(source, child.clone(), candidate, &text, *mod_rs, out)?;
                    loaded = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", candidate.display()));
                }
            }
        }
        if !loaded {
            let tried: Vec<String> = candidates
                .iter()
                .map(|(c, _)| c.display().to_string())
                .collect();
            return Err(anyhow!(
                "module {} declared in {}: none of {} exists",
                child.join("::"),
                file.display(),
                tried.join(", ")
            ));
        }
    }
    out.push(Module {
        path,
        file: file.to_path_buf(),
        items: own,
    });
    Ok(())
}

/// The value of `#[path = "…"]`.
fn path_attribute(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) => Some(s.value()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

/// Whether a `#[cfg(…)]` among `attrs` holds only in test builds (`test`, `all(test, …)`).
pub(super) fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<Meta>()
                .is_ok_and(|meta| requires_test(&meta))
    })
}

fn requires_test(meta: &Meta) -> bool {
    match meta {
        Meta::Path(path) => path.is_ident("test"),
        Meta::List(list) => {
            let Ok(inner) =
                list.parse_args_with(Punctuated::<Meta, syn::Token![,]>::parse_terminated)
            else {
                return false;
            };
            if list.path.is_ident("all") {
                inner.iter().any(requires_test)
            } else if list.path.is_ident("any") {
                !inner.is_empty() && inner.iter().all(requires_test)
            } else {
                false
            }
        }
        Meta::NameValue(_) => false,
    }
}

/// The attributes of an item, to find `#[cfg(test)]`.
pub(super) fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}
