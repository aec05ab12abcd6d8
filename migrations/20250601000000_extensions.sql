-- Extensions the kit needs. uuid-ossp is required: the kit's tables use
-- extensions.uuid_generate_v4() for their keys. Supabase installs extensions
-- in the "extensions" schema, never in public (advisor lint 0014).
create extension if not exists "uuid-ossp" with schema extensions;
