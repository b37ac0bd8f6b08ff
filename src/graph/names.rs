//! Node and scope names in use, and unique-name allocation in amortised O(1) probes.
//!
//! A name `base` that is taken becomes `base_1`, `base_2`, ...: the smallest free suffix, as
//! TF1 does. Probing the suffixes one by one from 1 costs O(k) per name and O(n²) for a graph
//! of n `MatMul`s, so each base that was asked for twice keeps a counter (TF1's
//! `_names_in_use`): every suffix below `next` is known to be taken, except those in `freed`
//! (names released by a rename). The answers are exactly those of probing from 1.
//!
//! The index maps a hash of each node name to its node; the names themselves live only on the
//! nodes (no second copy of every name).

use petgraph::graph::NodeIndex;
use smallvec::SmallVec;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

/// Per-base suffix counter: every `base_k` with `k < next` is taken, except the `k` in
/// `freed` (which may have been taken again since; checked when popped).
#[derive(Debug)]
struct Counter {
    next: usize,
    freed: BTreeSet<usize>,
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            next: 1,
            freed: BTreeSet::new(),
        }
    }
}

/// The names of a graph's nodes and the scopes they live in.
#[derive(Default)]
pub(super) struct Names {
    hasher: RandomState,
    /// Hash of a node name -> the nodes with that hash (one, except on a hash collision).
    by_hash: HashMap<u64, SmallVec<[NodeIndex; 1]>>,
    /// Every proper scope prefix of a node name: `a` and `a/b` for `a/b/c`. Never shrinks
    /// (a rename keeps a node in its scope).
    scopes: HashSet<String>,
    node_counters: HashMap<String, Counter>,
    scope_counters: HashMap<String, Counter>,
    /// How many times a candidate name was looked up (for tests: O(1) per allocation).
    probes: u64,
}

impl Names {
    /// The node named `name`, given the name of every node.
    pub fn get<'a>(&self, name: &str, name_of: impl Fn(NodeIndex) -> &'a str) -> Option<NodeIndex> {
        let h = self.hasher.hash_one(name);
        self.by_hash
            .get(&h)?
            .iter()
            .copied()
            .find(|&i| name_of(i) == name)
    }

    /// Records that node `i` is named `name` (which must be free).
    pub fn insert(&mut self, name: &str, i: NodeIndex) {
        let h = self.hasher.hash_one(name);
        self.by_hash.entry(h).or_default().push(i);
        for (p, _) in name.match_indices('/') {
            if !self.scopes.contains(&name[..p]) {
                self.scopes.insert(name[..p].to_string());
            }
        }
    }

    /// Forgets that node `i` is named `name`; its suffix becomes free for its base again.
    pub fn remove(&mut self, name: &str, i: NodeIndex) {
        let h = self.hasher.hash_one(name);
        if let Some(v) = self.by_hash.get_mut(&h) {
            v.retain(|n| *n != i);
            if v.is_empty() {
                self.by_hash.remove(&h);
            }
        }
        if let Some((base, k)) = split_suffix(name) {
            for counters in [&mut self.node_counters, &mut self.scope_counters] {
                if let Some(c) = counters.get_mut(base) {
                    if k < c.next {
                        c.freed.insert(k);
                    }
                }
            }
        }
    }

    /// `base` if no node has that name, else `base_k` for the smallest free `k >= 1`.
    pub fn unique_name<'a>(
        &mut self,
        base: String,
        name_of: impl Fn(NodeIndex) -> &'a str,
    ) -> String {
        let (hasher, by_hash) = (&self.hasher, &self.by_hash);
        let used = |n: &str| {
            by_hash
                .get(&hasher.hash_one(n))
                .is_some_and(|v| v.iter().any(|&i| name_of(i) == n))
        };
        allocate(&mut self.node_counters, &mut self.probes, base, used)
    }

    /// `full` (a scoped name) if neither a node nor a scope has that name, else `full_k` for
    /// the smallest such `k >= 1`.
    pub fn unique_scope<'a>(
        &mut self,
        full: String,
        name_of: impl Fn(NodeIndex) -> &'a str,
    ) -> String {
        let (hasher, by_hash, scopes) = (&self.hasher, &self.by_hash, &self.scopes);
        let used = |n: &str| {
            scopes.contains(n)
                || by_hash
                    .get(&hasher.hash_one(n))
                    .is_some_and(|v| v.iter().any(|&i| name_of(i) == n))
        };
        allocate(&mut self.scope_counters, &mut self.probes, full, used)
    }

    /// Candidate names looked up so far.
    pub fn probes(&self) -> u64 {
        self.probes
    }
}

/// The smallest free name among `base`, `base_1`, `base_2`, ... under `used`, in amortised
/// O(1) probes. Nothing is reserved: asking twice without taking the name gives it twice.
fn allocate(
    counters: &mut HashMap<String, Counter>,
    probes: &mut u64,
    base: String,
    used: impl Fn(&str) -> bool,
) -> String {
    *probes += 1;
    if !used(&base) {
        return base;
    }
    if !counters.contains_key(&base) {
        counters.insert(base.clone(), Counter::default());
    }
    let c = counters.get_mut(&base).expect("inserted above");
    while let Some(&k) = c.freed.first() {
        let name = format!("{base}_{k}");
        *probes += 1;
        if !used(&name) {
            return name;
        }
        c.freed.pop_first();
    }
    loop {
        let name = format!("{base}_{}", c.next);
        *probes += 1;
        if !used(&name) {
            return name;
        }
        c.next += 1;
    }
}

/// `("base", k)` for a name `base_k` as `allocate` makes them (no leading zeros).
fn split_suffix(name: &str) -> Option<(&str, usize)> {
    let (base, digits) = name.rsplit_once('_')?;
    let k: usize = digits.parse().ok()?;
    (digits.as_bytes()[0] != b'0' && k > 0 && !digits.starts_with('+')).then_some((base, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy node table: the index of a name is its position.
    struct Table {
        names: Vec<String>,
        index: Names,
    }

    impl Table {
        fn new() -> Self {
            Table {
                names: Vec::new(),
                index: Names::default(),
            }
        }
        fn add(&mut self, base: &str) -> String {
            let names = &self.names;
            let n = self
                .index
                .unique_name(base.to_string(), |i| names[i.index()].as_str());
            self.index.insert(&n, NodeIndex::new(self.names.len()));
            self.names.push(n.clone());
            n
        }
        fn rename(&mut self, k: usize, base: &str) -> String {
            let names = &self.names;
            let n = self
                .index
                .unique_name(base.to_string(), |i| names[i.index()].as_str());
            let old = std::mem::replace(&mut self.names[k], n.clone());
            self.index.remove(&old, NodeIndex::new(k));
            self.index.insert(&n, NodeIndex::new(k));
            n
        }
        /// The old rule: probe `base`, `base_1`, ... one by one.
        fn naive(&self, base: &str) -> String {
            let used = |n: &str| self.names.iter().any(|m| m == n);
            if !used(base) {
                return base.to_string();
            }
            (1..)
                .map(|k| format!("{base}_{k}"))
                .find(|n| !used(n))
                .unwrap()
        }
    }

    #[test]
    fn counters_give_the_names_probing_gives() {
        let mut t = Table::new();
        // Bases that collide with explicit suffixed names, renames that free suffixes, and
        // names that look suffixed but are not (`a_01`, `a_`).
        let script: &[(&str, Option<usize>)] = &[
            ("a", None),
            ("a", None),
            ("a_2", None),
            ("a", None),
            ("a", None),
            ("a_1", None),
            ("a_01", None),
            ("a_", None),
            ("b", None),
            ("x", Some(1)),
            ("a", None),
            ("y", Some(0)),
            ("a", None),
            ("a", None),
            ("x", Some(4)),
            ("a_1", None),
            ("a", None),
            ("s/a", None),
            ("s/a", None),
        ];
        for &(base, rename) in script {
            let expected = t.naive(base);
            let got = match rename {
                None => t.add(base),
                Some(k) => t.rename(k, base),
            };
            assert_eq!(got, expected, "{base} after {:?}", t.names);
        }
    }

    #[test]
    fn scopes_are_unique_among_names_and_scope_prefixes() {
        let mut t = Table::new();
        t.add("dense/MatMul");
        t.add("dense_1");
        t.add("dense_2/x/y");
        let names = &t.names;
        let s = t
            .index
            .unique_scope("dense".into(), |i| names[i.index()].as_str());
        assert_eq!(s, "dense_3");
        assert_eq!(
            t.index
                .unique_scope("x".into(), |i| names[i.index()].as_str()),
            "x"
        );
        assert_eq!(
            t.index
                .unique_scope("dense_2/x".into(), |i| names[i.index()].as_str()),
            "dense_2/x_1"
        );
    }

    #[test]
    fn n_names_of_one_base_cost_o_n_probes() {
        let mut t = Table::new();
        for _ in 0..5000 {
            t.add("MatMul");
        }
        assert_eq!(t.names[4999], "MatMul_4999");
        // One probe of the base, one of the free suffix, one of the suffix taken last time.
        assert!(t.index.probes() <= 3 * 5000, "{}", t.index.probes());
    }
}
