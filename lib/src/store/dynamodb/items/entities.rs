//! The entity item and the item that reserves its code.

use crate::store::Entity;

use super::keys::{entity_code_sk, entity_owner_type, entity_sk, user_pk};
use super::{item, n, s, Attrs, Item};

/// An entity; `entity_owner`/`entity_code` key the `entities_by_code` index (a user's
/// entities in code order), `entity_owner_type`/`entity_code` the `entities_by_type` index.
pub(in crate::store::dynamodb) fn entity_item(e: &Entity) -> Item {
    let mut item = item([
        ("pk", s(user_pk(e.user_id))),
        ("sk", s(entity_sk(e.entity_id))),
        ("entity_id", s(e.entity_id.to_string())),
        ("user_id", s(e.user_id.to_string())),
        ("code", s(&e.code)),
        ("type", s(&e.kind)),
        ("quantity", n(e.quantity)),
        ("version", n(e.version)),
        ("created_at", n(e.created_at)),
        ("updated_at", n(e.updated_at)),
        ("entity_owner", s(user_pk(e.user_id))),
        (
            "entity_owner_type",
            s(entity_owner_type(e.user_id, &e.kind)),
        ),
        ("entity_code", s(&e.code)),
    ]);
    for (name, value) in [("name", &e.name), ("description", &e.description)] {
        if let Some(v) = value {
            item.insert(name.to_string(), s(v));
        }
    }
    item
}

pub(in crate::store::dynamodb) fn parse_entity(item: &Item) -> anyhow::Result<Entity> {
    let a = Attrs(item);
    Ok(Entity {
        entity_id: a.id("entity_id")?,
        user_id: a.id("user_id")?,
        code: a.req_s("code")?,
        kind: a.req_s("type")?,
        quantity: a.num("quantity")?,
        name: a.opt_s("name"),
        description: a.opt_s("description"),
        version: a.num("version")?,
        created_at: a.num("created_at")?,
        updated_at: a.num("updated_at")?,
    })
}

/// The item that reserves a code among one user's entities.
pub(in crate::store::dynamodb) fn entity_code_item(e: &Entity) -> Item {
    item([
        ("pk", s(user_pk(e.user_id))),
        ("sk", s(entity_code_sk(&e.code))),
        ("entity_id", s(e.entity_id.to_string())),
    ])
}
