"""One cron time field (minutes or hours: '*', 'a-b', 'n', lists, '/step')
as the set of values it matches, by cron's rules; read by schedules.bats."""


def expand(field, lo, hi):
    out = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step = part.split("/")
            step = int(step)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a, b = map(int, part.split("-"))
        else:
            a = b = int(part)
        out.update(range(a, b + 1, step))
    return out
