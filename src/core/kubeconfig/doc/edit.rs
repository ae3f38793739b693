//! Edits: write our entries, set or restore the current context, remove what we own. Each
//! says what it changed and refuses (changing nothing) where an item is not ours.

use super::*;

/// Write `entries` into the document as `owner`'s. All or nothing: when any name is held by an
/// item without our mark (or with another environment's), nothing changes and the error names
/// every such item.
pub fn upsert(doc: &mut Value, entries: &[Entry], owner: &str) -> Result<Changes, DocError> {
    validate(entries)?;
    check_shape(doc)?;
    let mut wanted: Vec<(Kind, String, Map<String, Value>)> = Vec::new();
    for e in entries {
        for (kind, name, b) in [
            (Kind::Cluster, &e.cluster, cluster_body(e)),
            (Kind::User, &e.user, user_body(e)),
            (Kind::Context, &e.context, context_body(e)),
        ] {
            if !wanted.iter().any(|(k, n, _)| *k == kind && n == name) {
                wanted.push((kind, name.clone(), b));
            }
        }
    }

    let mut conflicts = Vec::new();
    for (kind, name, _) in &wanted {
        for item in items(doc, *kind)
            .iter()
            .filter(|i| item_name(i) == Some(name))
        {
            let holder = match owner_of(item, *kind) {
                Some(o) if o == owner => continue,
                Some(o) => Holder::OtherOwner(o),
                None => Holder::Unmarked,
            };
            conflicts.push(Conflict {
                kind: *kind,
                name: name.clone(),
                holder,
            });
        }
    }
    if !conflicts.is_empty() {
        return Err(DocError::Conflict(conflicts));
    }
    let root = root_mut(doc)?;

    let fresh = root.is_empty();
    let mut changes = Changes::default();
    for (kind, name, desired) in wanted {
        let list = list_mut(root, kind);
        let mut found = false;
        let mut i = 0;
        while i < list.len() {
            if item_name(&list[i]) != Some(name.as_str()) {
                i += 1;
                continue;
            }
            if found {
                // A second copy of our own item: kubectl would keep only one; keep the first.
                list.remove(i);
                changes.0.push(Change::Removed {
                    kind,
                    name: name.clone(),
                });
                continue;
            }
            found = true;
            let existing = list[i]
                .get(kind.body_key())
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let next = reconcile_body(kind, &existing, &desired, owner);
            if next != existing {
                list[i]
                    .as_object_mut()
                    .expect("a named item is a mapping")
                    .insert(kind.body_key().into(), Value::Object(next));
                changes.0.push(Change::Updated {
                    kind,
                    name: name.clone(),
                });
            }
            i += 1;
        }
        if !found {
            let mut b = desired;
            set_mark(&mut b, mark_value(owner, None));
            let mut item = Map::new();
            item.insert("name".into(), name.clone().into());
            item.insert(kind.body_key().into(), Value::Object(b));
            list.push(Value::Object(item));
            changes.0.push(Change::Added { kind, name });
        }
    }
    if fresh && !changes.is_empty() {
        // A new file gets the header kubectl writes, first.
        let mut head = Map::new();
        head.insert("apiVersion".into(), "v1".into());
        head.insert("kind".into(), "Config".into());
        head.insert("preferences".into(), json!({}));
        head.extend(std::mem::take(root));
        *root = head;
    }
    Ok(changes)
}

pub(super) fn current_context(doc: &Value) -> Option<String> {
    doc.get("current-context")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The context names of a document, in file order.
pub fn context_names(doc: &Value) -> Vec<String> {
    items(doc, Kind::Context)
        .iter()
        .filter_map(item_name)
        .map(str::to_owned)
        .collect()
}

/// Make `context` current. When it is ours, remember in its mark which context it replaced
/// (skipping over our own), so that `remove_owned` can give the user their context back.
pub fn set_current(doc: &mut Value, context: &str, owner: &str) -> Result<Changes, DocError> {
    check_shape(doc)?;
    let find = |name: &str| {
        items(doc, Kind::Context)
            .iter()
            .find(|i| item_name(i) == Some(name))
    };
    let Some(target) = find(context) else {
        return Err(DocError::NoSuchContext {
            name: context.into(),
            available: context_names(doc),
        });
    };
    let cur = current_context(doc);
    if cur.as_deref() == Some(context) {
        return Ok(Changes::default());
    }
    // When replacing one of our own contexts, keep remembering the user's one before it. Only
    // this owner's: another environment's context is what its user had current (found by
    // fuzzing: the second environment's `down` restored the first one's memory instead).
    let previous = match cur.as_deref().map(|c| (c, find(c))) {
        Some((_, Some(item))) if is_ours(item, Kind::Context, owner) => {
            previous_of(body(item, Kind::Context).and_then(mark))
        }
        Some((c, here)) => Some((c.to_owned(), here.is_none())),
        None => None,
    };
    let target_ours = is_ours(target, Kind::Context, owner);
    let root = root_mut(doc)?;
    if target_ours {
        for item in list_mut(root, Kind::Context)
            .iter_mut()
            .filter(|i| item_name(i) == Some(context))
        {
            if let Some(b) = item
                .get_mut(Kind::Context.body_key())
                .and_then(Value::as_object_mut)
            {
                set_mark(b, mark_value(owner, previous.as_ref()));
            }
        }
    }
    root.insert("current-context".into(), context.into());
    Ok(Changes(vec![Change::CurrentContext {
        from: cur,
        to: Some(context.into()),
    }]))
}

/// Remove exactly the clusters, users and contexts marked as `owner`'s. When current-context
/// pointed at one of them, restore the context it replaced if that still exists, else clear it.
/// One that another file of KUBECONFIG defined is restored as it was (found by fuzzing: it was
/// cleared, losing the user's current context), unless it names a context just removed.
pub fn remove_owned(doc: &mut Value, owner: &str) -> Result<Changes, DocError> {
    let cur = current_context(doc);
    let root = root_mut(doc)?;
    let mut changes = Changes::default();
    let mut restore: Option<Option<Previous>> = None;
    let mut removed_contexts: Vec<String> = Vec::new();
    for kind in Kind::ALL {
        let Some(Value::Array(list)) = root.get_mut(kind.list_key()) else {
            continue;
        };
        let mut kept = Vec::with_capacity(list.len());
        for item in list.drain(..) {
            if !is_ours(&item, kind, owner) {
                kept.push(item);
                continue;
            }
            let name = item_name(&item).unwrap_or_default().to_owned();
            if kind == Kind::Context {
                removed_contexts.push(name.clone());
            }
            if kind == Kind::Context && cur.as_deref() == Some(name.as_str()) {
                restore = Some(previous_of(body(&item, kind).and_then(mark)));
            }
            changes.0.push(Change::Removed { kind, name });
        }
        *list = kept;
    }
    if let Some(prev) = restore {
        let remaining: Vec<&str> = match root.get(Kind::Context.list_key()) {
            Some(Value::Array(list)) => list.iter().filter_map(item_name).collect(),
            _ => Vec::new(),
        };
        let to = prev
            .filter(|(p, elsewhere)| {
                !removed_contexts.contains(p) && (*elsewhere || remaining.contains(&p.as_str()))
            })
            .map(|(p, _)| p);
        root.insert(
            "current-context".into(),
            to.clone().unwrap_or_default().into(),
        );
        changes.0.push(Change::CurrentContext { from: cur, to });
    }
    Ok(changes)
}
