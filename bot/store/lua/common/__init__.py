"""Lua shared by the scripts of bot/store/lua (joined by `--#include common/<file>.lua`,
see bot.store.lua); a package only so that the wheel carries its files."""
