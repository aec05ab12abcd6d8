-- Reverts 20250601000000_extensions.sql. RESTRICT: it fails, rather than
-- cascading, while anything (the kit's tables, Supabase itself) still uses it.
drop extension if exists "uuid-ossp" restrict;
