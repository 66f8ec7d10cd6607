//! The order models are registered in: every model after the models it uses (its components),
//! and the cycles that make such an order impossible. Written once, for the check of
//! models.toml and for building the registry (where uses found on disk join the written ones).

use std::collections::HashMap;

/// How far the walk has got with a model.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// On the path being walked: reaching it again closes a cycle.
    Open,
    /// It and everything it uses are in the order.
    Done,
}

/// `graph` (each model, in the order given, with the IDs it uses) in dependency order: a model
/// comes after every model it uses, and otherwise in the order given. A used ID that is not a
/// node is ignored (the caller reports it). Each cycle found is returned as the path that
/// closes it, its first model repeated at the end (`a -> b -> a`), rotated to start at the
/// model that comes first in `graph`; its models are left out of the order, as are the models
/// that use them.
///
/// The walk keeps its own stack, so a chain of 100,000 uses does not overflow the thread's.
pub(crate) fn dependency_order<'a>(graph: &[(&'a str, Vec<&'a str>)]) -> Order<'a> {
    let position: HashMap<&str, usize> = graph
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    // Uses as positions; unknown IDs dropped.
    let uses: Vec<Vec<usize>> = graph
        .iter()
        .map(|(_, u)| {
            u.iter()
                .filter_map(|id| position.get(id).copied())
                .collect()
        })
        .collect();
    let mut state: Vec<Option<State>> = vec![None; graph.len()];
    let mut in_cycle = vec![false; graph.len()];
    let mut placed = vec![false; graph.len()];
    let mut order = Order::default();
    for root in 0..graph.len() {
        if state[root].is_some() {
            continue;
        }
        // (model, index of its next use to walk)
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = Some(State::Open);
        while let Some(top) = stack.len().checked_sub(1) {
            let (node, next) = stack[top];
            if let Some(&u) = uses[node].get(next) {
                stack[top].1 += 1;
                match state[u] {
                    None => {
                        state[u] = Some(State::Open);
                        stack.push((u, 0));
                    }
                    Some(State::Open) => {
                        // `u` is on the stack: the path from it to here, and back to it.
                        let from = stack.iter().position(|&(n, _)| n == u).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        for &n in &cycle {
                            in_cycle[n] = true;
                        }
                        let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                        cycle.rotate_left(first);
                        cycle.push(cycle[0]);
                        order
                            .cycles
                            .push(cycle.into_iter().map(|n| graph[n].0).collect());
                    }
                    Some(State::Done) => {}
                }
            } else {
                stack.pop();
                state[node] = Some(State::Done);
                // Every use is done by now, placed or left out (in a cycle, or using one).
                if !in_cycle[node] && uses[node].iter().all(|&u| placed[u]) {
                    placed[node] = true;
                    order.models.push(graph[node].0);
                }
            }
        }
    }
    order
}

/// What [`dependency_order`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Order<'a> {
    /// The models that can be registered, each after those it uses.
    pub models: Vec<&'a str>,
    /// Each cycle, as `a -> b -> a`.
    pub cycles: Vec<Vec<&'a str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order<'a>(graph: &[(&'a str, &[&'a str])]) -> Order<'a> {
        let graph: Vec<(&str, Vec<&str>)> = graph.iter().map(|(id, u)| (*id, u.to_vec())).collect();
        dependency_order(&graph)
    }

    #[test]
    fn components_come_first_and_the_rest_keeps_its_order() {
        let o = order(&[
            ("flux", &["t5", "clip"]),
            ("kokoro", &[]),
            ("clip", &[]),
            ("t5", &[]),
            ("ltx", &["t5"]),
        ]);
        assert_eq!(o.models, ["t5", "clip", "flux", "kokoro", "ltx"]);
        assert!(o.cycles.is_empty());
    }

    #[test]
    fn unknown_uses_are_left_to_the_caller() {
        let o = order(&[("a", &["nowhere"])]);
        assert_eq!(o.models, ["a"]);
    }

    #[test]
    fn a_cycle_is_named_whole_from_its_first_model_and_left_out_with_its_users() {
        let o = order(&[
            ("user", &["c"]),
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("free", &[]),
        ]);
        assert_eq!(o.cycles, [vec!["a", "b", "c", "a"]]);
        assert_eq!(o.models, ["free"]);
        let o = order(&[("a", &["a"])]);
        assert_eq!(o.cycles, [vec!["a", "a"]]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let ids: Vec<String> = (0..100_000).map(|i| format!("m{i}")).collect();
        let graph: Vec<(&str, Vec<&str>)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    id.as_str(),
                    ids.get(i + 1).map(String::as_str).into_iter().collect(),
                )
            })
            .collect();
        let o = dependency_order(&graph);
        assert_eq!(o.models.first(), Some(&"m99999"));
        assert_eq!(o.models.len(), 100_000);
    }
}
