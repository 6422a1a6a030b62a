-- A rebuild's constants (bot.store.rescoring's DONE and TMP_TTL; tests/test_store_lua.py
-- checks they agree): a rebuilt day's progress once every bucket is done, and how long a
-- rebuild's temporary keys live if it dies.
local DONE, TMP_TTL = 1000000000, 7200
