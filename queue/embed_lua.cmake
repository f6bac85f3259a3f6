# Turns every queue/lua/NAME.lua into `const char lua_NAME[]` in one generated C file, with
# queue/lua/prelude.lua (the helpers the scripts share) prepended, and computes each script's
# EVALSHA digest here, at build time, so the programs never hash a script at run time.
# A line "--#include LIB" is replaced by the text of queue/lua/LIB.lua: a library that only
# some scripts need (catalog_lib: the catalog write shared by complete.lua and
# catalog_load.lua); libraries (prelude, *_lib) are not scripts of their own.
cmake_minimum_required(VERSION 3.18)
file(GLOB scripts ${DIR}/*.lua)
list(SORT scripts)
file(READ ${DIR}/prelude.lua prelude_text)
set(out "/* generated from queue/lua by embed_lua.cmake; do not edit */\n#include <stddef.h>\n")
set(lookup "")
foreach(s ${scripts})
  get_filename_component(name ${s} NAME_WE)
  if(NOT name STREQUAL "prelude" AND NOT name MATCHES "_lib$")
    file(READ ${s} body)
    string(REGEX MATCHALL "--#include [a-z_]+" incs "${body}")
    foreach(inc ${incs})
      string(REPLACE "--#include " "" lib "${inc}")
      file(READ ${DIR}/${lib}.lua libtext)
      string(REPLACE "${inc}" "${libtext}" body "${body}")
    endforeach()
    set(text "${prelude_text}${body}")
    string(SHA1 sha "${text}")
    string(HEX "${text}" hex)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    string(APPEND out "const char lua_${name}[] = {${hex}0x00};\n")
    string(APPEND out "static const char sha_${name}[] = \"${sha}\";\n")
    string(APPEND lookup "    if (script == lua_${name})\n        return sha_${name};\n")
  endif()
endforeach()
string(APPEND out "const char *lua_sha(const char *script);\n")
string(APPEND out "const char *lua_sha(const char *script)\n{\n${lookup}    return NULL;\n}\n")
file(WRITE ${OUT} "${out}")
