//! The paths of one module that name other modules of the same crate: `crate::…`, `super::…`
//! and `self::…` in `use` trees, types, expressions, patterns and macro tokens.

use std::collections::HashMap;

use proc_macro2::{Spacing, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::visit::{self, Visit};
use syn::{Attribute, ImplItem, Item, TraitItem, UseTree};

use super::load::{is_test_only, item_attrs};

/// Collects the module-relative paths (`crate::`, `super::`, `self::`) of one module's items,
/// resolved to the deepest module they name.
pub(super) struct References<'a> {
    pub(super) module: &'a [String],
    pub(super) modules: &'a HashMap<Vec<String>, usize>,
    /// `(target module, line, path as written)`, in source order.
    pub(super) found: Vec<(Vec<String>, usize, String)>,
}

impl References<'_> {
    fn reference(&mut self, segments: &[String], line: usize) {
        let modules = self.modules;
        if let Some(target) = resolve(self.module, segments, |p| modules.contains_key(p)) {
            self.found.push((target, line, segments.join("::")));
        }
    }
}

impl<'ast> Visit<'ast> for References<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        // A module inside a function body is not in the module tree; its tests are skipped all
        // the same.
        if matches!(item, Item::Mod(m) if m.ident == "tests") || is_test_only(item_attrs(item)) {
            return;
        }
        visit::visit_item(self, item);
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        let attrs: &[Attribute] = match item {
            ImplItem::Const(i) => &i.attrs,
            ImplItem::Fn(i) => &i.attrs,
            ImplItem::Type(i) => &i.attrs,
            ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        let attrs: &[Attribute] = match item {
            TraitItem::Const(i) => &i.attrs,
            TraitItem::Fn(i) => &i.attrs,
            TraitItem::Type(i) => &i.attrs,
            TraitItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_some() {
            return;
        }
        let mut paths = Vec::new();
        flatten_use(&item.tree, &mut Vec::new(), &mut paths);
        for (segments, line) in paths {
            self.reference(&segments, line);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none()
            && let Some(first) = path.segments.first()
        {
            let segments: Vec<String> = path
                .segments
                .iter()
                .map(|s| s.ident.unraw().to_string())
                .collect();
            self.reference(&segments, line(first.ident.span()));
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let mut paths = Vec::new();
        macro_paths(mac.tokens.clone(), &mut paths);
        for (segments, line) in paths {
            self.reference(&segments, line);
        }
        visit::visit_macro(self, mac);
    }
}

fn line(span: Span) -> usize {
    span.start().line
}

/// Every path of a `use` tree, with the line of its last segment: `use crate::{a, b::{self, C}}`
/// gives `crate::a`, `crate::b` and `crate::b::C`.
fn flatten_use(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
    let mut leaf = |ident: &syn::Ident, prefix: &mut Vec<String>| {
        let mut path = prefix.clone();
        if ident != "self" {
            path.push(ident.unraw().to_string());
        }
        out.push((path, line(ident.span())));
    };
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.unraw().to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => leaf(&n.ident, prefix),
        UseTree::Rename(r) => leaf(&r.ident, prefix),
        UseTree::Glob(g) => out.push((prefix.clone(), line(g.star_token.spans[0]))),
        UseTree::Group(g) => {
            for tree in &g.items {
                flatten_use(tree, prefix, out);
            }
        }
    }
}

/// Paths `crate::…`, `super::…` and `self::…` (and `$crate::…`) among a macro call's tokens.
fn macro_paths(tokens: TokenStream, out: &mut Vec<(Vec<String>, usize)>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Group(group) => macro_paths(group.stream(), out),
            TokenTree::Ident(ident) if ident == "crate" || ident == "super" || ident == "self" => {
                let mut segments = vec![ident.to_string()];
                while is_path_separator(&tokens, i + 1)
                    && let Some(TokenTree::Ident(next)) = tokens.get(i + 3)
                {
                    segments.push(next.unraw().to_string());
                    i += 3;
                }
                if segments.len() > 1 {
                    out.push((segments, line(ident.span())));
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// Whether `tokens[at..]` starts with `::`.
fn is_path_separator(tokens: &[TokenTree], at: usize) -> bool {
    matches!(
        (tokens.get(at), tokens.get(at + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

/// The deepest module that `segments`, used in `module`, names; `None` if the path does not start
/// with `crate`, `super` or `self` (an extern crate, a local name) or climbs above the root.
fn resolve(
    module: &[String],
    segments: &[String],
    is_module: impl Fn(&[String]) -> bool,
) -> Option<Vec<String>> {
    let (first, rest) = segments.split_first()?;
    let mut current = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => {
            let mut parent = module.to_vec();
            parent.pop()?;
            parent
        }
        _ => return None,
    };
    let mut leading = true;
    for segment in rest {
        if leading && segment == "super" {
            current.pop()?;
            continue;
        }
        leading = false;
        current.push(segment.clone());
        if !is_module(&current) {
            current.pop();
            break;
        }
    }
    Some(current)
}
