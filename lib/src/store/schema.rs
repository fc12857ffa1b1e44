//! Table definitions have one source, `template.yaml`: this reads its `AWS::DynamoDB::Table`
//! resources and creates the same tables elsewhere (DynamoDB Local, a fresh account).

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_yaml::Value;

/// The project's SAM template, as shipped.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// One table as the template defines it.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub logical_id: String,
    properties: Value,
}

/// Every `AWS::DynamoDB::Table` resource of a CloudFormation/SAM template.
pub fn tables(template: &str) -> anyhow::Result<Vec<TableSpec>> {
    let doc: Value = serde_yaml::from_str(template).context("template is not YAML")?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .context("template has no Resources")?;
    Ok(resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        .map(|(id, r)| TableSpec {
            logical_id: id.as_str().unwrap_or_default().to_string(),
            properties: r.get("Properties").cloned().unwrap_or(Value::Null),
        })
        .collect())
}

fn str_of<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .with_context(|| format!("missing {key}"))
}

fn key_schema(list: &Value) -> anyhow::Result<Vec<KeySchemaElement>> {
    list.as_sequence()
        .context("KeySchema is not a list")?
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(str_of(k, "AttributeName")?)
                .key_type(KeyType::from(str_of(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

impl TableSpec {
    /// Creates this table under `name` (on-demand billing), with its stream, and enables its
    /// TTL.
    pub async fn create(&self, client: &Client, name: &str) -> anyhow::Result<()> {
        self.create_with(client, name, true).await
    }

    /// As [`TableSpec::create`], with the template's stream only if `stream` (a table nothing
    /// reads the stream of costs DynamoDB Local a stream record per write).
    pub async fn create_with(
        &self,
        client: &Client,
        name: &str,
        stream: bool,
    ) -> anyhow::Result<()> {
        let p = &self.properties;
        let attributes = p
            .get("AttributeDefinitions")
            .and_then(Value::as_sequence)
            .context("AttributeDefinitions missing")?
            .iter()
            .map(|a| {
                Ok(AttributeDefinition::builder()
                    .attribute_name(str_of(a, "AttributeName")?)
                    .attribute_type(ScalarAttributeType::from(str_of(a, "AttributeType")?))
                    .build()?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut req = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(
                p.get("KeySchema").context("KeySchema missing")?,
            )?));
        for gsi in p
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let projection = gsi.get("Projection").context("index without Projection")?;
            let non_key = projection
                .get("NonKeyAttributes")
                .and_then(Value::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                });
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(str_of(gsi, "IndexName")?)
                    .set_key_schema(Some(key_schema(
                        gsi.get("KeySchema").context("index KeySchema")?,
                    )?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(str_of(
                                projection,
                                "ProjectionType",
                            )?))
                            .set_non_key_attributes(non_key)
                            .build(),
                    )
                    .build()?,
            );
        }
        if let Some(stream) = p.get("StreamSpecification").filter(|_| stream) {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(str_of(stream, "StreamViewType")?))
                    .build()?,
            );
        }
        req.send()
            .await
            .with_context(|| format!("Failed to create table {name} ({})", self.logical_id))?;
        if let Some(ttl) = p.get("TimeToLiveSpecification") {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(str_of(ttl, "AttributeName")?)
                        .enabled(ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(true))
                        .build()?,
                )
                .send()
                .await
                .with_context(|| format!("Failed to enable TTL on {name}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_defines_the_table_with_ttl() {
        let tables = tables(TEMPLATE).unwrap();
        assert_eq!(tables.len(), 1, "{tables:?}");
        let t = &tables[0];
        assert_eq!(
            str_of(&t.properties, "BillingMode").unwrap(),
            "PAY_PER_REQUEST"
        );
        let ttl = t.properties.get("TimeToLiveSpecification").unwrap();
        assert_eq!(str_of(ttl, "AttributeName").unwrap(), "expires_at");
        let keys = key_schema(t.properties.get("KeySchema").unwrap()).unwrap();
        assert_eq!(keys.len(), 2);
    }
}
