//! `EntityStore`: per-user entities with unique codes and versioned writes.

use dompet::domain::now_millis;
use dompet::store::{Entity, EntityError, EntityFilter, Store};

use super::{account, entity};

/// The next version of `e` with `change` applied.
fn changed(e: &Entity, change: impl FnOnce(&mut Entity)) -> Entity {
    let mut next = e.clone();
    change(&mut next);
    next.version = e.version + 1;
    next.updated_at = now_millis();
    next
}

fn codes(list: &[Entity]) -> Vec<&str> {
    list.iter().map(|e| e.code.as_str()).collect()
}

pub async fn entities_are_stored_read_and_owned_by_their_user(store: &dyn Store) {
    let (a, b) = (account(store, "ent-a").await, account(store, "ent-b").await);
    let e = entity(&a, "SKU-1", "book", 3);
    store.create_entity(&e).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, e.entity_id).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(
        store.get_entity(b.user_id, e.entity_id).await.unwrap(),
        None,
        "another user's entity does not exist for them"
    );
    let mut bare = entity(&a, "SKU-2", "pen", 0);
    bare.name = None;
    store.create_entity(&bare).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, bare.entity_id).await.unwrap(),
        Some(bare)
    );
    // The same code for another user is fine.
    store
        .create_entity(&entity(&b, "SKU-1", "book", 1))
        .await
        .unwrap();
}

pub async fn an_entity_code_is_unique_per_user(store: &dyn Store) {
    let a = account(store, "ent-code").await;
    store
        .create_entity(&entity(&a, "SKU-1", "book", 1))
        .await
        .unwrap();
    let again = entity(&a, "SKU-1", "pen", 2);
    assert!(matches!(
        store.create_entity(&again).await,
        Err(EntityError::CodeTaken)
    ));
    assert_eq!(
        store.get_entity(a.user_id, again.entity_id).await.unwrap(),
        None,
        "nothing written"
    );
}

pub async fn concurrent_creations_of_one_code_store_exactly_one(store: &dyn Store) {
    let a = account(store, "ent-race").await;
    let attempts: Vec<Entity> = (0..6).map(|i| entity(&a, "HOT", "book", i)).collect();
    let results = futures::future::join_all(attempts.iter().map(|e| store.create_entity(e))).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(EntityError::CodeTaken))));
    let listed = store
        .list_entities(a.user_id, &EntityFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(codes(&listed), ["HOT"]);
}

pub async fn entity_updates_check_the_version_and_move_the_code(store: &dyn Store) {
    let a = account(store, "ent-update").await;
    let e = entity(&a, "OLD", "book", 1);
    store.create_entity(&e).await.unwrap();
    let other = entity(&a, "TAKEN", "book", 1);
    store.create_entity(&other).await.unwrap();

    let renamed = changed(&e, |n| {
        n.code = "NEW".into();
        n.quantity = 9;
        n.description = Some("moved".into());
    });
    store.update_entity(&e, &renamed).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, e.entity_id).await.unwrap(),
        Some(renamed.clone())
    );
    // The old code is free again, the new one is taken.
    store
        .create_entity(&entity(&a, "OLD", "pen", 1))
        .await
        .unwrap();
    assert!(matches!(
        store.create_entity(&entity(&a, "NEW", "pen", 1)).await,
        Err(EntityError::CodeTaken)
    ));
    // A stale version changes nothing.
    let stale = changed(&e, |n| n.quantity = 100);
    assert!(matches!(
        store.update_entity(&e, &stale).await,
        Err(EntityError::VersionConflict)
    ));
    // Renaming onto another entity's code changes nothing.
    let clash = changed(&renamed, |n| n.code = "TAKEN".into());
    assert!(matches!(
        store.update_entity(&renamed, &clash).await,
        Err(EntityError::CodeTaken)
    ));
    assert_eq!(
        store.get_entity(a.user_id, e.entity_id).await.unwrap(),
        Some(renamed.clone())
    );
    // Gone: NotFound.
    store.delete_entity(&renamed).await.unwrap();
    assert!(matches!(
        store
            .update_entity(&renamed, &changed(&renamed, |n| n.quantity = 1))
            .await,
        Err(EntityError::NotFound)
    ));
}

pub async fn concurrent_updates_of_one_version_succeed_once(store: &dyn Store) {
    let a = account(store, "ent-cas").await;
    let e = entity(&a, "CAS", "book", 0);
    store.create_entity(&e).await.unwrap();
    let nexts: Vec<Entity> = (1..=6).map(|q| changed(&e, |n| n.quantity = q)).collect();
    let results = futures::future::join_all(nexts.iter().map(|n| store.update_entity(&e, n))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(EntityError::VersionConflict))));
    let stored = store
        .get_entity(a.user_id, e.entity_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 2);
}

pub async fn deleting_an_entity_frees_its_code_and_checks_the_version(store: &dyn Store) {
    let a = account(store, "ent-delete").await;
    let e = entity(&a, "GONE", "book", 1);
    store.create_entity(&e).await.unwrap();
    let newer = changed(&e, |n| n.quantity = 2);
    store.update_entity(&e, &newer).await.unwrap();
    assert!(matches!(
        store.delete_entity(&e).await,
        Err(EntityError::VersionConflict)
    ));
    store.delete_entity(&newer).await.unwrap();
    assert_eq!(
        store.get_entity(a.user_id, e.entity_id).await.unwrap(),
        None
    );
    assert!(matches!(
        store.delete_entity(&newer).await,
        Err(EntityError::NotFound)
    ));
    store
        .create_entity(&entity(&a, "GONE", "pen", 1))
        .await
        .unwrap();
}

pub async fn entity_listings_filter_and_page_in_code_order(store: &dyn Store) {
    let (a, b) = (
        account(store, "ent-list").await,
        account(store, "ent-list-b").await,
    );
    for (code, kind) in [
        ("C", "book"),
        ("A", "book"),
        ("E", "pen"),
        ("B", "pen"),
        ("D", "book"),
    ] {
        store
            .create_entity(&entity(&a, code, kind, 1))
            .await
            .unwrap();
    }
    store
        .create_entity(&entity(&b, "AA", "book", 1))
        .await
        .unwrap();
    let all = EntityFilter::default();
    let list = |filter: EntityFilter, after: Option<&'static str>, limit| async move {
        store
            .list_entities(a.user_id, &filter, after, limit)
            .await
            .unwrap()
    };
    assert_eq!(
        codes(&list(all.clone(), None, 10).await),
        ["A", "B", "C", "D", "E"]
    );
    assert_eq!(codes(&list(all.clone(), None, 2).await), ["A", "B"]);
    assert_eq!(codes(&list(all.clone(), Some("B"), 2).await), ["C", "D"]);
    assert_eq!(
        codes(&list(all.clone(), Some("E"), 2).await),
        Vec::<&str>::new()
    );
    let books = EntityFilter {
        kind: Some("book".into()),
        code: None,
    };
    assert_eq!(codes(&list(books.clone(), None, 10).await), ["A", "C", "D"]);
    assert_eq!(codes(&list(books.clone(), Some("A"), 1).await), ["C"]);
    let by_code = |code: &str, kind: Option<&str>| EntityFilter {
        kind: kind.map(String::from),
        code: Some(code.into()),
    };
    assert_eq!(codes(&list(by_code("D", None), None, 10).await), ["D"]);
    assert_eq!(
        codes(&list(by_code("D", Some("book")), None, 10).await),
        ["D"]
    );
    assert!(list(by_code("D", Some("pen")), None, 10).await.is_empty());
    assert!(list(by_code("D", None), Some("D"), 10).await.is_empty());
    assert!(
        list(by_code("AA", None), None, 10).await.is_empty(),
        "b's code"
    );
}
