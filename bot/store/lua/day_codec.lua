-- The day buckets and the packed day codec alone, for tools that write days as the
-- counting scripts do (bench/rebuild.py appends its own body).
--#include common/day.lua

