//! The store contract on the DynamoDB adapter, against DynamoDB Local (a fresh table per case,
//! created from template.yaml).

dompet_tests::all_store_contract_tests!(dompet_tests::dynamodb_local::fresh_store());

#[tokio::test]
async fn ttl_is_enabled_on_the_table_as_the_template_says() {
    let store = dompet_tests::dynamodb_local::fresh_store().await;
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let description = ttl.time_to_live_description().unwrap();
    assert_eq!(description.attribute_name(), Some("expires_at"));
}
