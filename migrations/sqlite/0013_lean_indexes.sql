-- 0013_lean_indexes: indexes no query uses, each written on every order.
-- orders_status (status, updated_at): order lists by status use
-- orders_status_id (status, id).  order_lines_product (product_id): nothing
-- looks order lines up by product.  Every checkout inserted an entry in
-- both and every status change moved one (on SQLite a page written to the
-- WAL per order for each; measured in bench/README.md).
DROP INDEX IF EXISTS orders_status;
DROP INDEX IF EXISTS order_lines_product;
