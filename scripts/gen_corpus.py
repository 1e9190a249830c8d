#!/usr/bin/env python3
"""Generate a test corpus of the shared corpus's kinds from a seed, in its manifest format.

usage: gen_corpus.py --seed S --out DIR [--speech N] [--meetings N] [--videos N] [--cache DIR]

What it makes (defaults): 64 espeak-ng speech clips over every English voice and many variants,
speeds, pitches and noise levels; 12 meetings of 2-5 speakers (same-gender voices with
different accents, crosstalk, long pauses, room noise) with RTTM turns, transcript, decisions
and action items; 8 slide/screencast videos (fonts, sizes, colours, dark themes, charts, code,
scrolling text) with their cuts and on-screen text; the bad-input families (broken headers,
truncations, and images, text, archives and documents renamed to audio/video extensions).

The rendering, truth computation and manifest writing are the shared corpus's own generator
(`../shared/corpus/_build`, found next to this repository or through NIGHTSHIFT_SHARED): this
script only writes the content, drawn from the seed, so every run with one seed and the same
tool versions gives the same cases. The output is test data, not source: keep it out of git
(the default place is ~/.cache/nightshift-corpus/gen-SEED) and point the quality tests and
benchmarks at it with NIGHTSHIFT_CORPUS=DIR.

Needs python3 with numpy and pillow, espeak-ng, sox, ffmpeg and fonts-dejavu/fonts-liberation.
"""
import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import types
import zipfile

import numpy as np


def shared_build_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("NIGHTSHIFT_SHARED") or os.path.join(here, "..", "..", "shared")
    d = os.path.join(shared, "corpus", "_build")
    if not os.path.isfile(os.path.join(d, "build.py")):
        sys.exit(f"gen_corpus.py: {d}: the shared corpus generator is not there (set NIGHTSHIFT_SHARED)")
    return os.path.abspath(d)


# ------------------------------------------------------------------------------ words and dates

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORD = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth", 12: "twelfth"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def words(n):
    if n < 20:
        return ONES[n]
    t, o = divmod(n, 10)
    return TENS[t] + ("" if o == 0 else " " + ONES[o])


def ordinal(n):
    if n in ORD:
        return ORD[n]
    if n < 20:
        return ONES[n] + "th"
    t, o = divmod(n, 10)
    if o == 0:
        return TENS[t][:-1] + "ieth"
    return TENS[t] + " " + ordinal(o)


def year_words(y):
    return words(y // 100) + " " + words(y % 100)


def spoken_day(d):
    """'Friday, May twenty second'"""
    return f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {ordinal(d.day)}"


# ------------------------------------------------------------------------------ voices

DIALECTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
            "en-us-nyc"]
MALE = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Alex", "andy", "benjamin", "david", "ed", "edward",
        "john", "max", "michael", "paul", "robert", "victor", "norbert", "caleb", "Lee"]
FEMALE = ["f1", "f2", "f3", "f4", "f5", "Annie", "belinda", "linda", "steph", "steph2", "Andrea", "Alicia",
          "anika", "shelby"]
FEMALE_NAMES = ["Laura", "Nina", "Rachel", "Helen", "Sara", "Julia", "Emma", "Olivia", "Fiona", "Irene", "Maria",
                "Chloe", "Hannah", "Lucy", "Paula", "Zoe", "Megan", "Karen"]
MALE_NAMES = ["Peter", "Omar", "Victor", "Martin", "Daniel", "Kevin", "Lucas", "Samuel", "George", "Tom", "Adam",
              "Hugo", "Ivan", "Oscar", "Felix", "Simon", "Robert", "Leo"]


# ------------------------------------------------------------------------------ speech clips

SUBJECTS = ["the budget review", "the hiring plan", "the product launch", "the security audit", "the office move",
            "the data migration", "the customer survey", "the training program", "the vendor contract",
            "the quarterly report", "the marketing campaign", "the support backlog", "the mobile release",
            "the server upgrade", "the design workshop", "the travel policy"]
CLIP_TEMPLATES = [
    "Before we start, has everyone had a chance to read {s}?",
    "I would like to move {s} to next week, because two people are away.",
    "The numbers for {s} look much better than we expected last month.",
    "Can somebody take notes today? I will be presenting {s}.",
    "We still need a final answer from legal before we can close {s}.",
    "Please send your comments on {s} to me by the end of the day.",
    "I think the biggest risk in {s} is that we simply run out of time.",
    "Let me share my screen so that everyone can follow {s} with me.",
    "The team finished {s} two days early, which is great news for everyone.",
    "If nobody objects, we will approve {s} at the next board meeting.",
    "Sorry, the connection dropped for a moment. Could you repeat the part about {s}?",
    "There are three open questions about {s}, and I will go through them one by one.",
    "Our goal is to finish {s} before the holidays start in December.",
    "Most of the feedback on {s} was positive, but a few users were confused.",
    "We should ask the finance team how much {s} will cost in the second year.",
    "Thank you for joining the call. We will keep it short and focus on {s}.",
]


def clip_cases(rng, n):
    clips = []
    for i in range(n):
        dialect = DIALECTS[i % len(DIALECTS)]
        variant = rng.choice(MALE + FEMALE)
        voice = f"{dialect}+{variant}"
        speed = rng.choice([115, 130, 145, 160, 175, 190, 205, 220])
        pitch = rng.randrange(25, 80, 5)
        text = rng.choice(CLIP_TEMPLATES).format(s=rng.choice(SUBJECTS))
        # Noise: most clean, some with steady hiss, some with louder babble-like noise.
        noise = rng.choice([None, None, ("white", 25), ("pink", 18), ("pink", 12), ("brown", 10)])
        clips.append({"id": f"gen_tts_{i + 1:02d}", "voice": voice, "speed": speed, "pitch": pitch, "text": text,
                      "noise": noise})
    return clips


def coloured_noise(rng, n, colour):
    x = rng.standard_normal(n).astype(np.float64)
    if colour == "white":
        return x
    spec = np.fft.rfft(x)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f) if colour == "pink" else f
    y = np.fft.irfft(spec, n)
    return y / (np.std(y) + 1e-12)


def add_noise(x, colour, snr_db, seed):
    rng = np.random.default_rng(seed)
    speech = x[np.abs(x) > 1e-4]
    p_speech = float(np.mean(speech.astype(np.float64) ** 2)) if len(speech) else 1e-6
    noise = coloured_noise(rng, len(x), colour) * np.sqrt(p_speech / (10 ** (snr_db / 10)))
    y = x.astype(np.float64) + noise
    peak = np.max(np.abs(y))
    if peak > 0.98:
        y *= 0.98 / peak
    return y.astype(np.float32)


# ------------------------------------------------------------------------------ meetings

# Each topic: how it is raised, what is said about it, the decision (a clause said verbatim),
# and tasks (what is said after "please" / "I will", and the task as the truth states it).
TOPICS = [
    {"name": "the office move",
     "raise": "The landlord confirmed that the new office will be ready in two weeks.",
     "talk": ["The movers need the final floor plan before they can give us a price.",
              "Some people asked whether they can keep working from home on Fridays."],
     "decision": "we move into the new office on the first Monday after it is ready",
     "tasks": [("book the moving company", "Book the moving company"),
               ("send the floor plan to everyone", "Send the floor plan to the team")]},
    {"name": "the hiring plan",
     "raise": "We have budget for two new engineers, but only one job posting is online.",
     "talk": ["The recruiters said good candidates are taking offers within a week.",
              "We could shorten the interview process to three rounds."],
     "decision": "the interview process will have three rounds instead of five",
     "tasks": [("publish the second job posting", "Publish the second job posting"),
               ("update the interview guide", "Update the interview guide for three rounds")]},
    {"name": "the security audit",
     "raise": "The auditors found four issues, and one of them is rated as high.",
     "talk": ["The high one is about old accounts that were never switched off.",
              "The other three are small configuration changes."],
     "decision": "all unused accounts are switched off before the end of the month",
     "tasks": [("remove the unused accounts", "Remove the unused accounts"),
               ("write a short report for the auditors", "Write the report for the auditors")]},
    {"name": "the customer survey",
     "raise": "The survey results came back yesterday, with almost six hundred answers.",
     "talk": ["People like the new dashboard, but they find the export hard to use.",
              "Several answers asked for a dark theme."],
     "decision": "the export screen is redesigned in the next release",
     "tasks": [("share the survey results with the design team", "Share the survey results with design"),
               ("draft the new export screen", "Draft the new export screen")]},
    {"name": "the conference trip",
     "raise": "The conference in Lisbon accepted our talk, so we need to plan the trip.",
     "talk": ["Flights are still cheap if we book this week.",
              "Only two people can go because of the travel budget."],
     "decision": "two people travel to the conference and the rest watch the stream",
     "tasks": [("book the flights and the hotel", "Book the flights and hotel for the conference"),
               ("prepare the slides for the talk", "Prepare the slides for the conference talk")]},
    {"name": "the server upgrade",
     "raise": "The database servers are running out of disk space faster than planned.",
     "talk": ["At the current rate we have about six weeks left.",
              "The new machines can be delivered in ten days."],
     "decision": "we order the new database servers this week",
     "tasks": [("place the order for the new servers", "Order the new database servers"),
               ("plan the maintenance window", "Plan the maintenance window for the upgrade")]},
    {"name": "the training program",
     "raise": "New team members keep asking the same questions in their first month.",
     "talk": ["A short video course would save us a lot of time.",
              "We already have most of the material in the wiki."],
     "decision": "every new team member gets a mentor for the first month",
     "tasks": [("record the first training video", "Record the first training video"),
               ("clean up the wiki pages for new people", "Clean up the onboarding wiki pages")]},
    {"name": "the vendor contract",
     "raise": "Our contract with the cloud vendor ends in March, and they sent a new offer.",
     "talk": ["The new offer is twelve percent more expensive.",
              "Another vendor offered a similar service for less."],
     "decision": "we ask both vendors for a final offer before we sign anything",
     "tasks": [("request a final offer from both vendors", "Request final offers from both vendors"),
               ("compare the two contracts", "Compare the two vendor contracts")]},
    {"name": "the marketing launch",
     "raise": "The launch campaign is ready, except for the video.",
     "talk": ["The video agency needs one more week.",
              "We could launch with pictures first and add the video later."],
     "decision": "the campaign starts on time without the video",
     "tasks": [("tell the agency about the new plan", "Tell the agency about the new plan"),
               ("prepare the launch pictures", "Prepare the launch pictures")]},
    {"name": "the support backlog",
     "raise": "The support queue has grown to three hundred open tickets.",
     "talk": ["Most of them are about password resets.",
              "A self service reset page would remove half of the tickets."],
     "decision": "we build a self service password reset page",
     "tasks": [("write the plan for the reset page", "Write the plan for the password reset page"),
               ("answer the oldest tickets first", "Answer the oldest support tickets")]},
    {"name": "the mobile release",
     "raise": "The mobile release is blocked by a crash on older phones.",
     "talk": ["It only happens on phones that are more than five years old.",
              "The fix is small, but it needs another round of testing."],
     "decision": "the mobile release moves back by one week",
     "tasks": [("fix the crash on older phones", "Fix the crash on older phones"),
               ("tell the store team about the new date", "Tell the store team about the new release date")]},
    {"name": "the team offsite",
     "raise": "We have to choose a place for the team offsite in the spring.",
     "talk": ["The lake hotel has rooms for everyone.",
              "The city venue is cheaper, but there is no room for workshops."],
     "decision": "the team offsite takes place at the lake hotel",
     "tasks": [("reserve the rooms at the lake hotel", "Reserve the rooms at the lake hotel"),
               ("collect ideas for the workshops", "Collect ideas for the offsite workshops")]},
]
DECISION_FORMS = [
    "So the decision is: {d}.",
    "Let's decide this now: {d}.",
    "Okay, then we agree that {d}.",
    "Good. {D}, that is decided.",
    "Fine, it is settled: {d}.",
]
ASSIGN_FORMS = [
    "{name}, please {task} by {due}.",
    "{name}, can you {task} by {due}?",
    "{name}, could you {task} before {due}?",
]
VOLUNTEER_FORMS = ["I will {task} by {due}.", "I can {task}. I will have it done by {due}."]
OPINIONS = [
    "I think that makes sense, but we should keep an eye on the cost.",
    "From my side there is no problem, my team can support this.",
    "I am a bit worried about the timeline, it feels very tight.",
    "We tried something similar last year and it worked quite well.",
    "Can we make sure the customers hear about this early enough?",
    "I would like to see the numbers before we commit to anything.",
    "That sounds reasonable to me, as long as nobody has to work overtime.",
    "My only question is who pays for it, our budget or theirs.",
    "I agree with the direction, the details can follow next week.",
    "Let us not forget the people who are on holiday right now.",
    "This would also help the support team, they asked for it twice.",
    "I can talk to the other departments if that helps.",
]
ACKS = ["Sure, that works.", "Yes, no problem.", "Okay, I will do that.", "Agreed.", "Sounds good to me."]


def U(spk, text, gap=None):
    e = {"spk": spk, "text": text}
    if gap is not None:
        e["gap"] = gap
    return e


def pick_speakers(rng, n, mode):
    """Speakers with names, voices and levels. `same_gender`: all one gender, each voice from
    another dialect (the hard case for speaker counting)."""
    dialects = rng.sample(DIALECTS, n)
    gender_of = []
    if mode == "same_gender":
        g = rng.choice(["m", "f"])
        gender_of = [g] * n
    else:
        gender_of = [rng.choice(["m", "f"]) for _ in range(n)]
        if n >= 2 and len(set(gender_of)) == 1:
            gender_of[-1] = "f" if gender_of[0] == "m" else "m"
    names_m, names_f = rng.sample(MALE_NAMES, n), rng.sample(FEMALE_NAMES, n)
    var_m, var_f = rng.sample(MALE, n), rng.sample(FEMALE, n)
    speakers = {}
    for i, g in enumerate(gender_of):
        name = names_m[i] if g == "m" else names_f[i]
        variant = var_m[i] if g == "m" else var_f[i]
        speakers[name.upper()] = {
            "voice": f"{dialects[i]}+{variant}", "speed": rng.randrange(140, 190, 5),
            "pitch": rng.randrange(30, 50, 5) if g == "m" else rng.randrange(50, 80, 5),
            "gain_db": round(rng.uniform(-3, 2), 1), "name": name,
        }
    return speakers


def meeting_cases(rng, n):
    import datetime
    meetings = []
    for i in range(n):
        n_spk = [2, 3, 3, 4, 4, 5][i % 6]
        mode = "same_gender" if i % 3 == 1 else "mixed"
        speakers = pick_speakers(rng, n_spk, mode)
        keys = list(speakers)
        name = {k: speakers[k]["name"] for k in keys}
        for k in keys:
            del speakers[k]["name"]
        chair = keys[0]
        date = datetime.date(2026, 1, 5) + datetime.timedelta(days=rng.randrange(0, 300))
        topics = rng.sample(TOPICS, 2 if n_spk <= 3 else 3)
        features = [f"{n_spk} speakers"] + (["same-gender voices with different accents"] if mode == "same_gender"
                                            else [])
        ev = [U(chair, f"Hello everyone. This is our meeting on {spoken_day(date)}, {year_words(date.year)}. "
                       f"Today we talk about {' and '.join(t['name'] for t in topics)}.")]
        decisions, actions = [], []
        overlap_at = rng.randrange(len(topics)) if i % 2 == 0 else None
        pause_at = rng.randrange(len(topics)) if i % 4 == 3 else None
        for ti, t in enumerate(topics):
            others = [k for k in keys if k != chair] or [chair]
            raiser = rng.choice(others)
            if pause_at == ti:
                region = rng.choice(["long_silence", "low_noise"])
                ev.append({"region": region, "dur": round(rng.uniform(12, 40), 1), "after": 0.5,
                           **({"level_db": -45.0} if region == "low_noise" else {})})
                features.append("long pause" if region == "long_silence" else "room noise without speech")
            ev.append(U(raiser, f"About {t['name']}. {t['raise']}", round(rng.uniform(0.8, 2.5), 2)))
            for line in t["talk"]:
                spk = rng.choice([k for k in keys if k != ev[-1]["spk"]] or keys)
                gap = round(rng.uniform(0.3, 1.2), 2)
                if overlap_at == ti and "crosstalk" not in " ".join(features):
                    gap = -round(rng.uniform(0.8, 1.6), 2)
                    features.append("crosstalk")
                ev.append(U(spk, line, gap))
            # Everyone gets a say: the quietest speakers so far give an opinion.
            said_count = {k: sum(1 for e in ev if e.get("spk") == k) for k in keys}
            for spk in sorted(keys, key=lambda k: (said_count[k], rng.random()))[:rng.randrange(1, 3)]:
                ev.append(U(spk, rng.choice(OPINIONS), round(rng.uniform(0.3, 1.5), 2)))
            form = rng.choice(DECISION_FORMS)
            d = t["decision"]
            said = form.format(d=d, D=d[0].upper() + d[1:])
            decider = rng.choice([chair, raiser])
            ev.append(U(decider, said, round(rng.uniform(0.4, 1.0), 2)))
            decisions.append({"decision": d[0].upper() + d[1:] + ".",
                              # Evidence lies inside one sentence.
                              "evidence": said.rstrip(".?").split(". ")[-1]})
            for task_said, task_truth in t["tasks"]:
                due = date + datetime.timedelta(days=rng.randrange(2, 16))
                due_said = spoken_day(due)
                if rng.random() < 0.7:
                    owner = rng.choice([k for k in keys if k != chair] or keys)
                    asker = chair if owner != chair else rng.choice(keys)
                    said = rng.choice(ASSIGN_FORMS).format(name=name[owner], task=task_said, due=due_said)
                    ev.append(U(asker, said, round(rng.uniform(0.4, 1.2), 2)))
                    ev.append(U(owner, rng.choice(ACKS), round(rng.uniform(0.3, 0.8), 2)))
                    evidence = said.split(" by ")[0].split(" before ")[0]
                else:
                    owner = rng.choice(keys)
                    said = rng.choice(VOLUNTEER_FORMS).format(task=task_said, due=due_said)
                    ev.append(U(owner, said, round(rng.uniform(0.4, 1.2), 2)))
                    evidence = said.split(" by ")[0].split(". ")[0]
                actions.append({"owner": owner, "task": task_truth, "due": due.isoformat(),
                                "due_spoken": due_said, "evidence": evidence})
        ev.append(U(chair, "Thank you all. I will send the notes after the call.", round(rng.uniform(0.8, 2.0), 2)))
        meetings.append({
            "id": f"gen_meeting_{i + 1:02d}", "format": rng.choice(["wav", "wav", "mp3", "flac"]),
            "title": f"Generated meeting {i + 1} ({n_spk} speakers)", "meeting_date": date.isoformat(),
            "features": features, "speakers": speakers, "events": ev,
            "decisions": decisions, "action_items": actions,
        })
    return meetings


# ------------------------------------------------------------------------------ videos

THEMES = [  # (background, text, accent): light, dark and coloured slides
    ((255, 255, 255), (20, 20, 20), (40, 90, 200)),
    ((18, 18, 24), (235, 235, 235), (0, 170, 255)),
    ((250, 244, 230), (70, 50, 20), (180, 90, 20)),
    ((25, 45, 80), (255, 255, 255), (255, 200, 0)),
    ((235, 245, 235), (10, 60, 30), (20, 140, 60)),
    ((40, 40, 40), (255, 220, 120), (255, 120, 60)),
    ((240, 240, 250), (60, 20, 90), (130, 60, 180)),
    ((0, 0, 0), (255, 255, 255), (200, 200, 200)),
]
FONT_FAMILIES = [  # (sans, bold, mono) fontconfig patterns
    ("DejaVu Sans:style=Book", "DejaVu Sans:style=Bold", "DejaVu Sans Mono:style=Book"),
    ("Liberation Sans:style=Regular", "Liberation Sans:style=Bold", "Liberation Mono:style=Regular"),
    ("DejaVu Serif:style=Book", "DejaVu Serif:style=Bold", "DejaVu Sans Mono:style=Book"),
    ("Liberation Serif:style=Regular", "Liberation Serif:style=Bold", "Liberation Mono:style=Regular"),
    ("Liberation Sans Narrow:style=Regular", "Liberation Sans Narrow:style=Bold", "DejaVu Sans Mono:style=Bold"),
]
SIZES = [(640, 360, 25), (854, 480, 30), (480, 270, 24), (1280, 720, 30), (960, 540, 25)]
SLIDE_LINES = [
    "Revenue grew 14% in Q3", "Churn down to 2.1%", "New office opens in June", "Hiring: 2 engineers",
    "Budget approved: 48,000 EUR", "Launch date: 12 October", "Support tickets: 312 open", "Audit: 4 findings",
    "Survey: 587 answers", "Export redesign planned", "Servers: 6 weeks of disk left", "Mentors for new staff",
    "Flights booked for Lisbon", "Release 4.2 moved one week", "Password reset page", "Offsite at the lake hotel",
    "Backups tested every Friday", "Latency p99: 180 ms", "Team size: 14 people", "Next review: 3 November",
]
TITLES = ["Quarterly update", "Project status", "Roadmap 2026", "Team offsite", "Support report", "Security review",
          "Release plan", "Hiring update", "Customer survey", "Budget overview", "Marketing launch", "Lessons learned"]
CODE = [
    ["def retry(job, attempts=3):", "    for i in range(attempts):", "        if job.run():", "            return True",
     "    return False"],
    ["server:", "  port: 8080", "  workers: 4", "  timeout_s: 30"],
    ["SELECT name, total", "FROM orders", "WHERE total > 100", "ORDER BY total DESC;"],
    ["fn main() {", "    let n = 42;", "    println!(\"{n}\");", "}"],
]
NARRATION = ["Here is the next slide.", "Let me walk you through these numbers.", "This part is important.",
             "Please read this carefully.", "As you can see, things are moving.", "Now a quick look at the code.",
             "This chart shows the trend over four months.", "That is all for this part."]


def video_cases(rng, n):
    videos = []
    for i in range(n):
        W, H, fps = SIZES[i % len(SIZES)]
        family = i % len(FONT_FAMILIES)
        theme = THEMES[rng.randrange(len(THEMES))]
        scenes = []
        for k in range(rng.randrange(4, 7)):
            kind = rng.choice(["slide", "slide", "chart", "code", "scroll", "slide_dark"]) if k else "title"
            bg, fg, accent = theme if kind != "slide_dark" else THEMES[rng.choice([1, 5, 7])]
            dur = round(rng.uniform(5, 9), 1)
            if kind == "title":
                scenes.append({"kind": "slide", "layout": "center", "dur": dur, "bg": bg, "fg": fg,
                               "title": rng.choice(TITLES), "lines": [f"Generated deck {i + 1}"],
                               "description": "Title slide, text centred"})
            elif kind in ("slide", "slide_dark"):
                scenes.append({"kind": "slide", "dur": dur, "bg": bg, "fg": fg, "accent": accent,
                               "title": rng.choice(TITLES), "lines": rng.sample(SLIDE_LINES, rng.randrange(2, 5)),
                               "description": "Bullet slide" + (" on a dark background" if kind == "slide_dark"
                                                                else "")})
            elif kind == "chart":
                labels = rng.choice([["Jan", "Feb", "Mar", "Apr"], ["Q1", "Q2", "Q3", "Q4"], ["North", "South",
                                                                                            "East", "West"]])
                scenes.append({"kind": "chart", "dur": dur, "title": rng.choice(["Tickets per month", "Revenue",
                                                                                 "Build minutes", "Signups"]),
                               "bars": [(lab, rng.randrange(2, 40)) for lab in labels],
                               "colors": [accent], "description": "Bar chart with values above the bars"})
            elif kind == "code":
                scenes.append({"kind": "code", "dur": dur, "title": rng.choice(["retry.py", "server.yaml",
                                                                                "report.sql", "main.rs"]),
                               "lines": rng.choice(CODE), "description": "Code editor, light text on dark"})
            else:
                scenes.append({"kind": "scroll", "dur": round(rng.uniform(10, 14), 1), "title": "Release notes",
                               "hold_s": 1.5, "scroll_px_per_frame": 1.0, "bg": bg, "fg": fg,
                               "lines": rng.sample(SLIDE_LINES, 8),
                               "description": "Document page scrolling upward (motion, no cut)"})
        trans = [rng.choice([{"type": "cut"}, {"type": "cut"}, {"type": "dissolve", "dur": 1.0},
                             {"type": "fade_black", "dur": 1.0}]) for _ in scenes[1:]]
        spk = {"A": {"voice": f"{rng.choice(DIALECTS)}+{rng.choice(MALE + FEMALE)}", "speed": 160, "pitch": 50}}
        narration = [{"scene": k, "offset": 0.6, "spk": "A", "text": rng.choice(NARRATION)}
                     for k in range(len(scenes)) if rng.random() < 0.7]
        ext = rng.choice(["mp4", "mp4", "webm", "mkv"])
        videos.append({"id": f"gen_video_{i + 1:02d}", "file": f"gen_video_{i + 1:02d}.{ext}",
                       "title": f"Generated slides {i + 1} ({W}x{H}, {FONT_FAMILIES[family][0].split(':')[0]})",
                       "width": W, "height": H, "fps": fps, "crf": rng.choice([23, 27, 30]), "scenes": scenes,
                       "transitions": trans, "speakers": spk, "narration": narration or
                       [{"scene": 0, "offset": 0.6, "spk": "A", "text": NARRATION[0]}],
                       "font_family": family})
    return videos


# ------------------------------------------------------------------------------ bad inputs

def png_bytes(w, h, colour):
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, "PNG")
    return buf.getvalue()


def image_bytes(fmt, w, h, colour):
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (w, h), colour)
    ImageDraw.Draw(img).text((10, 10), "not a recording", fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def tar_bytes(name, data):
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >>"
       b" endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def extra_bad_inputs(b, rng, sample_media):
    """Inputs that are not recordings, each under an audio or video extension: every one must
    be refused with one clear line."""
    import gzip
    must = ["refused with one clear line that names the file and the cause; nothing is stored",
            "the input file is left byte-identical (sha256 unchanged)"]
    cases = [
        ("image_png_as_wav", "still_image.wav", png_bytes(640, 360, (30, 90, 160)), "not_media",
         "a still PNG image renamed .wav"),
        ("image_png_as_mp4", "still_image.mp4", png_bytes(1280, 720, (240, 240, 240)), "not_media",
         "a still PNG image renamed .mp4"),
        ("image_jpeg_as_mp4", "photo.mp4", image_bytes("JPEG", 800, 600, (200, 180, 150)), "not_media",
         "a JPEG photo renamed .mp4"),
        ("image_bmp_as_mov", "picture.mov", image_bytes("BMP", 320, 240, (10, 200, 10)), "not_media",
         "a BMP image renamed .mov"),
        ("image_webp_as_mkv", "picture.mkv", image_bytes("WEBP", 320, 240, (200, 10, 10)), "not_media",
         "a WebP image renamed .mkv"),
        ("archive_zip_as_m4a", "notes.m4a", zip_bytes({"notes.txt": b"meeting notes\n" * 50}), "not_media",
         "a ZIP archive renamed .m4a"),
        ("archive_gzip_as_mp3", "backup.mp3", gzip.compress(b"log line\n" * 500), "not_media",
         "a gzip file renamed .mp3"),
        ("archive_tar_as_wav", "bundle.wav", tar_bytes("a.txt", b"hello\n" * 100), "not_media",
         "a tar archive renamed .wav"),
        ("document_pdf_as_mp3", "minutes.mp3", PDF, "not_media", "a PDF document renamed .mp3"),
        ("document_docx_as_wav", "minutes.wav",
         zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}), "not_media",
         "a DOCX document renamed .wav"),
        ("document_html_as_webm", "page.webm", b"<!doctype html><html><body><p>hello</p></body></html>\n" * 20,
         "not_media", "an HTML page renamed .webm"),
        ("document_json_as_ogg", "data.ogg", b'{"meeting": "notes", "items": [1, 2, 3]}\n' * 30, "not_media",
         "a JSON file renamed .ogg"),
        ("document_csv_as_flac", "table.flac", b"name,total\nanna,3\nben,4\n" * 40, "not_media",
         "a CSV file renamed .flac"),
        ("document_svg_as_mp4", "drawing.mp4",
         b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
         "not_media", "an SVG drawing renamed .mp4"),
        ("random_bytes_as_mp3", "noise.mp3", np.random.default_rng(rng.randrange(1 << 30)).bytes(40_000),
         "not_media", "40 kB of random bytes named .mp3"),
        ("wav_header_only", "header_only.wav",
         b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
         + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
         + (32000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
         + b"data" + (0).to_bytes(4, "little"), "zero_length", "a WAV with a valid header and no samples"),
    ]
    mp3 = open(sample_media["mp3"], "rb").read()
    mp4 = open(sample_media["mp4"], "rb").read()
    cases += [
        ("truncated_mp3_head", "cut_short.mp3", mp3[:300], "truncated", "the first 300 bytes of an MP3"),
        ("truncated_mp4_head", "cut_short.mp4", mp4[:2048], "truncated",
         "the first 2 KiB of an MP4 (index at the start, no media data)"),
    ]
    for cid, name, data, kind, reason in cases:
        rel = f"bad_inputs/gen/{name}"
        with open(b.path(rel), "wb") as f:
            f.write(data)
        b.add(f"bad_{cid}", "bad_input", rel,
              {"outcome": "error", "error_kind": kind, "reason": reason, "must": must})
    # A stream with no duration at all: a Matroska file whose audio track has no packets.
    rel = "bad_inputs/gen/empty_stream.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
                    "-t", "0", "-c:a", "pcm_s16le", b.path(rel)], check=True)
    b.add("bad_empty_stream_mkv", "bad_input", rel,
          {"outcome": "error", "error_kind": "zero_length", "reason": "a Matroska file whose audio track has "
           "no samples", "must": must})


# ------------------------------------------------------------------------------ build

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    ap.add_argument("--speech", type=int, default=64)
    ap.add_argument("--meetings", type=int, default=12)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/nightshift-corpus/espeak"))
    a = ap.parse_args()
    out = os.path.abspath(a.out or os.path.expanduser(f"~/.cache/nightshift-corpus/gen-{a.seed}"))
    sys.path.insert(0, shared_build_dir())
    import build as B  # noqa: E402  (the shared corpus generator)
    import corpuslib as L  # noqa: E402

    rng = random.Random(a.seed)
    C = types.SimpleNamespace(
        SET=f"generated (seed {a.seed})", LICENSE_FILES={}, REAL_SPEECH=[], TTS_CLIPS=[], FORMAT_CLIP=None,
        MEETINGS=meeting_cases(rng, a.meetings), VIDEOS=video_cases(rng, a.videos),
        BAD={"speech": ("en-gb-x-rp+m2", 160, 45, rng.choice(CLIP_TEMPLATES).format(s=rng.choice(SUBJECTS))),
             "not_audio": "text", "unicode_name": "Réunion d'équipe – 会议 (draft).wav", "seed": a.seed},
        README_TITLE=f"Generated corpus, seed {a.seed}",
        README_INTRO=f"\nMade by `scripts/gen_corpus.py --seed {a.seed}` with the shared corpus generator.\n",
        README_PROVENANCE_EXTRA="", README_LIMITS="",
    )
    clips = clip_cases(rng, a.speech)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    os.makedirs(a.cache, exist_ok=True)
    b = B.Builder(C, "/nonexistent", "/nonexistent", out, a.cache)

    print("speech clips", flush=True)
    for k, c in enumerate(clips):
        x, s0, s1, _ = b.tts_clip(c["voice"], c["speed"], c["pitch"], c["text"])
        if c["noise"]:
            x = add_noise(x, c["noise"][0], c["noise"][1], a.seed * 1000 + k)
        rel = f"tts/{c['id']}.wav"
        L.write_wav_int16(b.path(rel), x)
        b.add(c["id"], "tts", rel, {
            "language": "en", "num_speakers": 1, "reference_transcript": c["text"],
            "reference_transcript_normalized": L.normalize_text(c["text"]),
            "speech_start_s": L.r3(s0), "speech_end_s": L.r3(s1), "duration_s": L.r3(len(x) / L.SR),
            "espeak": {"voice": c["voice"], "speed_wpm": c["speed"], "pitch": c["pitch"]},
            "noise": None if not c["noise"] else {"colour": c["noise"][0], "snr_db": c["noise"][1]},
        })

    print("meetings", flush=True)
    b.meetings()

    print("videos", flush=True)
    videos = C.VIDEOS
    for v in videos:
        sans, bold, mono = FONT_FAMILIES[v.pop("font_family")]
        fonts = L.Fonts()
        fonts.sans, fonts.bold, fonts.mono = L.find_font(sans), L.find_font(bold), L.find_font(mono)
        b.fonts = fonts
        C.VIDEOS = [v]
        b.videos()
    C.VIDEOS = videos

    print("bad inputs", flush=True)
    b.bad_inputs()
    # Whole MP3 and MP4 recordings to cut short: the first speech clip, encoded.
    first = os.path.join(out, b.cases[0]["path"])
    sample = {"mp3": os.path.join(b.work, "sample.mp3"), "mp4": os.path.join(b.work, "sample.mp4")}
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", first, "-c:a", "libmp3lame", sample["mp3"]],
                   check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=s=320x240:d=3",
                    "-i", first, "-shortest", "-c:v", "libx264", "-c:a", "aac", sample["mp4"]], check=True)
    extra_bad_inputs(b, rng, sample)

    man = b.write_manifest()
    B.write_readme(b, man)
    shutil.rmtree(b.work, ignore_errors=True)
    kinds = {}
    for c in b.cases:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print(f"{out}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))


if __name__ == "__main__":
    main()
