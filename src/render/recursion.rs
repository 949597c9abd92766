//! Templates that would call themselves without end: an `{% include %}` of a template that
//! includes it again, a macro that calls itself (directly or through other macros). Tera has
//! no depth limit, so rendering one overflows the stack and kills strata (exit 134) with no
//! word; strata refuses such a template before rendering instead (exit 2, naming the cycle).
//! strata's own templates need neither; an override that wants repetition uses `{% for %}`.
//! Reads the templates' syntax trees only.

use std::collections::{BTreeMap, BTreeSet};

use tera::ast::{Expr, ExprVal, Node};
use tera::Tera;

/// What a template or a macro calls: other templates (includes) and macros, each as a node
/// of one graph (`template NAME`, `macro NAME of FILE`).
#[derive(Default)]
struct Calls(BTreeSet<String>);

fn template_node(name: &str) -> String {
    format!("template `{name}`")
}

fn macro_node(file: &str, name: &str) -> String {
    format!("macro `{name}` of `{file}`")
}

impl Calls {
    fn nodes(&mut self, nodes: &[Node], file: &str, imports: &BTreeMap<String, String>) {
        for node in nodes {
            self.node(node, file, imports);
        }
    }

    fn node(&mut self, node: &Node, file: &str, imports: &BTreeMap<String, String>) {
        match node {
            Node::VariableBlock(_, expr) => self.expr(expr, file, imports),
            Node::Include(_, names, _) => {
                self.0.extend(names.iter().map(|n| template_node(n)));
            }
            Node::Set(_, set) => self.expr(&set.value, file, imports),
            Node::FilterSection(_, section, _) => {
                for arg in section.filter.args.values() {
                    self.expr(arg, file, imports);
                }
                self.nodes(&section.body, file, imports);
            }
            Node::Block(_, block, _) => self.nodes(&block.body, file, imports),
            Node::Forloop(_, for_loop, _) => {
                self.expr(&for_loop.container, file, imports);
                self.nodes(&for_loop.body, file, imports);
                if let Some(body) = &for_loop.empty_body {
                    self.nodes(body, file, imports);
                }
            }
            Node::If(branches, _) => {
                for (_, condition, body) in &branches.conditions {
                    self.expr(condition, file, imports);
                    self.nodes(body, file, imports);
                }
                if let Some((_, body)) = &branches.otherwise {
                    self.nodes(body, file, imports);
                }
            }
            _ => {}
        }
    }

    fn expr(&mut self, expr: &Expr, file: &str, imports: &BTreeMap<String, String>) {
        for filter in &expr.filters {
            for arg in filter.args.values() {
                self.expr(arg, file, imports);
            }
        }
        self.value(&expr.val, file, imports);
    }

    fn value(&mut self, value: &ExprVal, file: &str, imports: &BTreeMap<String, String>) {
        match value {
            ExprVal::Math(math) => {
                self.expr(&math.lhs, file, imports);
                self.expr(&math.rhs, file, imports);
            }
            ExprVal::Logic(logic) => {
                self.expr(&logic.lhs, file, imports);
                self.expr(&logic.rhs, file, imports);
            }
            ExprVal::In(within) => {
                self.expr(&within.lhs, file, imports);
                self.expr(&within.rhs, file, imports);
            }
            ExprVal::Test(test) => test.args.iter().for_each(|a| self.expr(a, file, imports)),
            ExprVal::FunctionCall(call) => {
                call.args.values().for_each(|a| self.expr(a, file, imports));
            }
            ExprVal::Array(items) => items.iter().for_each(|a| self.expr(a, file, imports)),
            ExprVal::StringConcat(concat) => {
                concat
                    .values
                    .iter()
                    .for_each(|v| self.value(v, file, imports));
            }
            ExprVal::MacroCall(call) => {
                let target = if call.namespace == "self" {
                    Some(file)
                } else {
                    imports.get(&call.namespace).map(String::as_str)
                };
                if let Some(target) = target {
                    self.0.insert(macro_node(target, &call.name));
                }
                call.args.values().for_each(|a| self.expr(a, file, imports));
            }
            _ => {}
        }
    }
}

/// The first cycle of includes or macro calls among a Tera instance's templates, as the names
/// along it (`a -> b -> a`), if there is one.
pub fn find_cycle(tera: &Tera) -> Option<String> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in tera.get_template_names() {
        let Ok(template) = tera.get_template(name) else {
            continue;
        };
        let imports: BTreeMap<String, String> = template
            .imported_macro_files
            .iter()
            .map(|(file, namespace)| (namespace.clone(), file.clone()))
            .collect();
        let mut calls = Calls::default();
        calls.nodes(&template.ast, name, &imports);
        graph.insert(template_node(name), calls.0);
        for (macro_name, definition) in &template.macros {
            let mut calls = Calls::default();
            calls.nodes(&definition.body, name, &imports);
            graph.insert(macro_node(name, macro_name), calls.0);
        }
    }
    // Depth-first search for a back edge, iteratively: the graph may be deep.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1: on the path, 2: done
    for start in graph.keys() {
        if state.contains_key(start.as_str()) {
            continue;
        }
        let mut path: Vec<(&str, Vec<&str>)> = vec![(start, successors(&graph, start))];
        state.insert(start, 1);
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(child) = next.pop() else {
                state.insert(node, 2);
                path.pop();
                continue;
            };
            match state.get(child) {
                Some(1) => {
                    let from = path.iter().position(|(n, _)| *n == child).unwrap_or(0);
                    let mut names: Vec<&str> = path[from..].iter().map(|(n, _)| *n).collect();
                    names.push(child);
                    return Some(names.join(" -> "));
                }
                Some(_) => {}
                None => {
                    state.insert(child, 1);
                    path.push((child, successors(&graph, child)));
                }
            }
        }
    }
    None
}

fn successors<'g>(graph: &'g BTreeMap<String, BTreeSet<String>>, node: &str) -> Vec<&'g str> {
    graph
        .get(node)
        .map(|next| {
            next.iter()
                .filter(|n| graph.contains_key(n.as_str()))
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tera(templates: &[(&str, &str)]) -> Tera {
        let mut tera = Tera::default();
        tera.add_raw_templates(templates.to_vec()).unwrap();
        tera
    }

    #[test]
    fn an_include_of_itself_and_a_macro_calling_itself_are_cycles() {
        let cycle = find_cycle(&tera(&[
            ("a", "{% include \"b\" %}"),
            ("b", "{% include \"a\" %}"),
        ]));
        assert!(cycle.unwrap().contains("template `a`"));
        let cycle = find_cycle(&tera(&[(
            "m",
            "{% macro f(n) %}{% if n > 0 %}{{ self::f(n=n - 1) }}{% endif %}{% endmacro f %}{{ self::f(n=3) }}",
        )]));
        assert_eq!(cycle.unwrap(), "macro `f` of `m` -> macro `f` of `m`");
    }

    #[test]
    fn includes_and_macros_without_a_cycle_pass() {
        let cycle = find_cycle(&tera(&[
            ("a", "{% include \"b\" %}{% include \"b\" %}"),
            ("b", "{% macro g() %}x{% endmacro g %}{% macro f() %}{{ self::g() }}{% endmacro f %}{{ self::f() }}"),
        ]));
        assert_eq!(cycle, None);
    }
}
