-- Reverts 20250601000100_vector.sql. RESTRICT: it fails while any column uses vector.
drop extension if exists vector restrict;
