//! Flex Web Service client (placeholder).
