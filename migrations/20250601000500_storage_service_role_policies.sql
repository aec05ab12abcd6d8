-- Explicit storage policies for the service role, as the kit's original set-up
-- had them. The service role bypasses RLS on Supabase (BYPASSRLS), so these
-- document intent and keep working where a database grants it without that
-- attribute. They apply to service_role only: anon and authenticated gain nothing.
drop policy if exists "hybridkit service role manages buckets" on storage.buckets;
create policy "hybridkit service role manages buckets"
  on storage.buckets for all to service_role using (true) with check (true);

drop policy if exists "hybridkit service role manages objects" on storage.objects;
create policy "hybridkit service role manages objects"
  on storage.objects for all to service_role using (true) with check (true);
