# Turns every queue/lua/NAME.lua into `const char lua_NAME[]` in one generated C file.
# A line "--#include LIB" is replaced by the text of queue/lua/LIB.lua: one Lua function
# (catalog_lib's catalog write) shared by several scripts, since Redis scripts cannot load
# each other.
file(GLOB scripts ${DIR}/*.lua)
list(SORT scripts)
set(out "/* generated from queue/lua by embed_lua.cmake; do not edit */\n")
foreach(s ${scripts})
  get_filename_component(name ${s} NAME_WE)
  file(READ ${s} text)
  string(REGEX MATCHALL "--#include [a-z_]+" incs "${text}")
  foreach(inc ${incs})
    string(REPLACE "--#include " "" lib "${inc}")
    file(READ ${DIR}/${lib}.lua libtext)
    string(REPLACE "${inc}" "${libtext}" text "${text}")
  endforeach()
  string(HEX "${text}" hex)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND out "const char lua_${name}[] = {${hex}0x00};\n")
endforeach()
file(WRITE ${OUT} "${out}")
