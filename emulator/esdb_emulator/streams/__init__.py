"""The Streams service: reads, appends (single and batched), deletes and catch-up subscriptions."""
