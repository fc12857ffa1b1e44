//! Counting what a store asks of DynamoDB: an SDK interceptor records every call (each attempt
//! of each operation) and the capacity DynamoDB says it consumed (it asks every call to return
//! it), so tests can assert the round trips a route costs.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// One call: the operation (`GetItem`, `BatchGetItem`, …) and the capacity units it consumed
/// (`None` when it failed or reported none).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub operation: String,
    pub capacity: Option<f64>,
}

/// The calls a client made since the last [`CallCounter::take`].
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<Vec<Call>>>);

impl CallCounter {
    /// The calls so far, forgetting them.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The operations of [`take`](Self::take), sorted (calls made concurrently have no order).
    pub fn take_operations(&self) -> Vec<String> {
        let mut ops: Vec<String> = self.take().into_iter().map(|c| c.operation).collect();
        ops.sort();
        ops
    }
}

fn units(capacity: &[ConsumedCapacity]) -> f64 {
    capacity.iter().filter_map(|c| c.capacity_units).sum()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        macro_rules! ask {
            ($($t:ty),*) => {$(
                if let Some(i) = input.downcast_mut::<$t>() {
                    i.return_consumed_capacity = total.clone();
                }
            )*};
        }
        ask!(
            GetItemInput,
            BatchGetItemInput,
            QueryInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_string(), |m| m.name().to_string());
        self.0.lock().unwrap().push(Call {
            operation,
            capacity: None,
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let single = |c: &Option<ConsumedCapacity>| c.as_ref().and_then(|c| c.capacity_units);
        let many = |c: &Option<Vec<ConsumedCapacity>>| c.as_deref().map(units);
        let capacity = None
            .or_else(|| {
                output
                    .downcast_ref::<GetItemOutput>()
                    .and_then(|o| single(&o.consumed_capacity))
            })
            .or_else(|| {
                output
                    .downcast_ref::<BatchGetItemOutput>()
                    .and_then(|o| many(&o.consumed_capacity))
            })
            .or_else(|| {
                output
                    .downcast_ref::<QueryOutput>()
                    .and_then(|o| single(&o.consumed_capacity))
            })
            .or_else(|| {
                output
                    .downcast_ref::<PutItemOutput>()
                    .and_then(|o| single(&o.consumed_capacity))
            })
            .or_else(|| {
                output
                    .downcast_ref::<UpdateItemOutput>()
                    .and_then(|o| single(&o.consumed_capacity))
            })
            .or_else(|| {
                output
                    .downcast_ref::<DeleteItemOutput>()
                    .and_then(|o| single(&o.consumed_capacity))
            })
            .or_else(|| {
                output
                    .downcast_ref::<TransactWriteItemsOutput>()
                    .and_then(|o| many(&o.consumed_capacity))
            });
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string());
        let mut calls = self.0.lock().unwrap();
        if let Some(call) = calls
            .iter_mut()
            .rev()
            .find(|c| Some(&c.operation) == operation.as_ref() && c.capacity.is_none())
        {
            call.capacity = capacity;
        }
        Ok(())
    }
}
