# Writes the bytes of IN as a C array to OUT (hex, so no escaping can go wrong).
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "#include <stddef.h>\nextern const char xp_builtin_config[];\nextern const size_t xp_builtin_config_len;\nconst char xp_builtin_config[] = {${body} 0};\nconst size_t xp_builtin_config_len = ${len};\n")
