-- Reverts 20250601000300_file_uploads.sql (its publication membership goes with it).
drop table if exists public.file_uploads;
