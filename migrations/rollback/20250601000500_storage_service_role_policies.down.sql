-- Reverts 20250601000500_storage_service_role_policies.sql.
drop policy if exists "hybridkit service role manages buckets" on storage.buckets;
drop policy if exists "hybridkit service role manages objects" on storage.objects;
