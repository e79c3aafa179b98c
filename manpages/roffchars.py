"""Data for the roff lexer: special characters, predefined strings, request classes.

No logic here (STYLE 14). Special character names follow groff_char(7); the table
covers what the man2/man3 pages of man-pages and of common libraries use, plus the
rest of the usual Latin-1, punctuation and mathematical names. ``\\[uXXXX]`` and
``\\[charNNN]`` are decoded by the lexer and need no entry.
"""

from __future__ import annotations

#: ``\(xx`` / ``\[xx]`` / ``\C'xx'`` → the character it stands for.
SPECIAL_CHARS: dict[str, str] = {
    # quotes and punctuation
    "aq": "'", "dq": '"', "lq": "\u201c", "rq": "\u201d", "oq": "\u2018", "cq": "\u2019",
    "Bq": "\u201e", "bq": "\u201a", "Fo": "\u00ab", "Fc": "\u00bb", "fo": "\u2039", "fc": "\u203a",
    "ga": "`", "ha": "^", "ti": "~", "rs": "\\", "sl": "/", "ba": "|", "br": "\u2502",
    "at": "@", "sh": "#", "Do": "$", "Eu": "\u20ac", "eu": "\u20ac", "ct": "\u00a2",
    "Po": "\u00a3", "Ye": "\u00a5", "Cs": "\u00a4", "r!": "\u00a1", "r?": "\u00bf",
    "em": "\u2014", "en": "\u2013", "hy": "-", "-": "-", "mi": "\u2212", "pl": "+",
    "bu": "\u2022", "ci": "\u25cb", "sq": "\u25a1", "ps": "\u00b6", "sc": "\u00a7",
    "dg": "\u2020", "dd": "\u2021", "lz": "\u25ca", "co": "\u00a9", "rg": "\u00ae",
    "tm": "\u2122", "de": "\u00b0", "%0": "\u2030", "fm": "\u2032", "sd": "\u2033",
    "mc": "\u00b5", "Of": "\u00aa", "Om": "\u00ba", "aa": "\u00b4", "a-": "\u00af",
    "ad": "\u00a8", "ac": "\u00b8", "ho": "\u02db", "ab": "\u02d8", "a.": "\u02d9",
    "a^": "^", "a~": "~", "ah": "\u02c7", "ao": "\u02da", "a\"": "\u02dd",
    "ru": "_", "ul": "_", "rn": "\u203e", "bv": "\u23aa", "lh": "\u261c", "rh": "\u261e",
    "OK": "\u2713", "CR": "\u21b5", "shc": "\u00ad", "hbar": "\u210f", "oc": "\u00a4",
    # arrows
    "<-": "\u2190", "->": "\u2192", "<>": "\u2194", "da": "\u2193", "ua": "\u2191",
    "va": "\u2195", "lA": "\u21d0", "rA": "\u21d2", "hA": "\u21d4", "dA": "\u21d3",
    "uA": "\u21d1", "vA": "\u21d5",
    # mathematics
    "+-": "\u00b1", "-+": "\u2213", "mu": "\u00d7", "tmu": "\u00d7", "di": "\u00f7",
    "tdi": "\u00f7", "f/": "\u2044", "**": "\u2217", "<=": "\u2264", ">=": "\u2265",
    "!=": "\u2260", "==": "\u2261", "=~": "\u2245", "~~": "\u2248", "~=": "\u2248",
    "ap": "\u223c", "pt": "\u221d", "es": "\u2205", "mo": "\u2208", "nm": "\u2209",
    "sb": "\u2282", "sp": "\u2283", "ib": "\u2286", "ip": "\u2287", "ca": "\u2229",
    "cu": "\u222a", "sr": "\u221a", "is": "\u222b", "if": "\u221e", "gr": "\u2207",
    "pd": "\u2202", "no": "\u00ac", "tno": "\u00ac", "AN": "\u2227", "OR": "\u2228",
    "fa": "\u2200", "te": "\u2203", "st": "\u220b", "3d": "\u2234", "tf": "\u2234",
    "1/2": "\u00bd", "1/4": "\u00bc", "3/4": "\u00be", "S1": "\u00b9", "S2": "\u00b2",
    "S3": "\u00b3", "pc": "\u00b7", "c*": "\u2297", "c+": "\u2295", "eq": "=",
    "lc": "\u2308", "rc": "\u2309", "lf": "\u230a", "rf": "\u230b", "Ah": "\u2135",
    "Im": "\u2111", "Re": "\u211c", "wp": "\u2118", "or": "|", "lb": "\u23a9",
    "rb": "\u23ad", "lk": "\u23a8", "rk": "\u23ac", "lt": "\u23a7", "rt": "\u23ab",
    "la": "\u27e8", "ra": "\u27e9", "bracketleft": "[", "bracketright": "]",
    "braceleft": "{", "braceright": "}", "parenleft": "(", "parenright": ")",
    # Latin-1 letters
    ":A": "\u00c4", ":E": "\u00cb", ":I": "\u00cf", ":O": "\u00d6", ":U": "\u00dc",
    ":a": "\u00e4", ":e": "\u00eb", ":i": "\u00ef", ":o": "\u00f6", ":u": "\u00fc",
    ":y": "\u00ff", ":Y": "\u0178", "'A": "\u00c1", "'E": "\u00c9", "'I": "\u00cd",
    "'O": "\u00d3", "'U": "\u00da", "'Y": "\u00dd", "'a": "\u00e1", "'e": "\u00e9",
    "'i": "\u00ed", "'o": "\u00f3", "'u": "\u00fa", "'y": "\u00fd", "`A": "\u00c0",
    "`E": "\u00c8", "`I": "\u00cc", "`O": "\u00d2", "`U": "\u00d9", "`a": "\u00e0",
    "`e": "\u00e8", "`i": "\u00ec", "`o": "\u00f2", "`u": "\u00f9", "^A": "\u00c2",
    "^E": "\u00ca", "^I": "\u00ce", "^O": "\u00d4", "^U": "\u00db", "^a": "\u00e2",
    "^e": "\u00ea", "^i": "\u00ee", "^o": "\u00f4", "^u": "\u00fb", "~A": "\u00c3",
    "~N": "\u00d1", "~O": "\u00d5", "~a": "\u00e3", "~n": "\u00f1", "~o": "\u00f5",
    ",C": "\u00c7", ",c": "\u00e7", "oA": "\u00c5", "oa": "\u00e5", "AE": "\u00c6",
    "ae": "\u00e6", "OE": "\u0152", "oe": "\u0153", "/O": "\u00d8", "/o": "\u00f8",
    "ss": "\u00df", "-D": "\u00d0", "Sd": "\u00f0", "TP": "\u00de", "Tp": "\u00fe",
    "/L": "\u0141", "/l": "\u0142", "vS": "\u0160", "vs": "\u0161", "vZ": "\u017d",
    "vz": "\u017e", "IJ": "\u0132", "ij": "\u0133", ".i": "\u0131", ".j": "\u0237",
    "ff": "ff", "fi": "fi", "fl": "fl", "Fi": "ffi", "Fl": "ffl",
    # Greek
    "*A": "\u0391", "*B": "\u0392", "*G": "\u0393", "*D": "\u0394", "*E": "\u0395",
    "*Z": "\u0396", "*Y": "\u0397", "*H": "\u0398", "*I": "\u0399", "*K": "\u039a",
    "*L": "\u039b", "*M": "\u039c", "*N": "\u039d", "*C": "\u039e", "*O": "\u039f",
    "*P": "\u03a0", "*R": "\u03a1", "*S": "\u03a3", "*T": "\u03a4", "*U": "\u03a5",
    "*F": "\u03a6", "*X": "\u03a7", "*Q": "\u03a8", "*W": "\u03a9", "*a": "\u03b1",
    "*b": "\u03b2", "*g": "\u03b3", "*d": "\u03b4", "*e": "\u03b5", "*z": "\u03b6",
    "*y": "\u03b7", "*h": "\u03b8", "*i": "\u03b9", "*k": "\u03ba", "*l": "\u03bb",
    "*m": "\u03bc", "*n": "\u03bd", "*c": "\u03be", "*o": "\u03bf", "*p": "\u03c0",
    "*r": "\u03c1", "ts": "\u03c2", "*s": "\u03c3", "*t": "\u03c4", "*u": "\u03c5",
    "*f": "\u03c6", "*x": "\u03c7", "*q": "\u03c8", "*w": "\u03c9", "+h": "\u03d1",
    "+f": "\u03d5", "+p": "\u03d6", "+e": "\u03f5",
}

#: Strings an.tmac (groff's man macros) predefines, used as ``\*(lq`` or ``\*R``,
#: and ``.T``, the output device, which pages test in conditionals (nroff: utf8).
PREDEFINED_STRINGS: dict[str, str] = {
    "lq": "\u201c", "rq": "\u201d", "R": "\u00ae", "Tm": "\u2122", "S": "", "HF": "",
    ".T": "utf8",
}

#: One-character escapes that stand for fixed text (``\-`` is a minus sign).
SIMPLE_ESCAPES: dict[str, str] = {
    "-": "-", "e": "\\", "E": "\\", "\\": "\\", ".": ".", "'": "\u00b4", "`": "`",
    "&": "", ")": "", "%": "", ":": "", "|": "", "^": "", "/": "", ",": "",
    "0": " ", "~": " ", " ": " ", "_": "_", "t": "\t", "a": "", "d": "", "u": "",
    "p": "", "r": "", "{": "", "}": "", "c": "", "!": "", "?": "", "z": "",
}

#: Escapes whose argument is a quoted string ``\X'...'`` (any delimiter); the value
#: is what they stand for in plain text, None to keep the argument's own text.
DELIMITED_ESCAPES: dict[str, str | None] = {
    "h": "", "v": "", "w": "0", "o": None, "b": "", "x": "", "l": "", "L": "",
    "D": "", "X": "", "Z": None, "R": "", "A": "1", "B": "1", "S": "", "H": "",
    "N": "", "C": None, "U": "",
}

#: Escapes that take a name argument (``\Yx``, ``\Y(xx``, ``\Y[name]``) and print nothing.
NAME_ESCAPES = frozenset("YVgkmMFO")

#: Requests and macros that only change layout; the document ignores them.
LAYOUT_REQUESTS = frozenset(
    "in sp br ad na hy nh ne ti ta ll ft ps vs fam ss cs bp ce rj ul cu lg ft fp "
    "tr hw ls pl po pn tc lc hc hlm hym hys kern fl ev evc mk rt ns rs nm nn PD DT UC AT "
    "cp warn pso lf tm tm1 tmc ab char fchar schar rchar fschar ftr "
    "sty cflags nroff troff open opena close write writec writem mso blm lsm "
    "pev pm pnr ptr psbox pvs sizes vpt chop substring length asciify unformat "
    "shift return ch wh it itc dt em bd uf ss linetabs tkf trf trin trnt hpf hpfa "
    "hpfcode hcode hla output device devicem sv os fzoom spreadwarn break "
    "while gcolor fcolor defcolor color box boxa di da nx rd mc als "
    "aln rn".split()
)

#: Font macros: name → fonts they alternate between (one font: all arguments in it).
FONT_MACROS: dict[str, tuple[str, ...]] = {
    "B": ("B",), "I": ("I",), "SM": ("R",), "SB": ("B",),
    "BR": ("B", "R"), "RB": ("R", "B"), "BI": ("B", "I"), "IB": ("I", "B"),
    "IR": ("I", "R"), "RI": ("R", "I"),
}
