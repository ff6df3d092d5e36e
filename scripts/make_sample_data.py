#!/usr/bin/env python3
"""Generate bot/data/sample_responses.csv, the survey answers `cxloop demo` runs on.

Standard library only and deterministic: the same seed always writes the same bytes, so the
bundled file can be regenerated and diffed.  Run from anywhere:

    python scripts/make_sample_data.py            # writes bot/data/sample_responses.csv
    python scripts/make_sample_data.py --out x.csv

The story the data tells (so weekly digests and `cxloop scores` have something to show):

* Twelve weeks, Monday 2026-08-31 to Friday 2026-11-20, about 50 answers a week, weekdays and
  London business hours heavier (times are written in UTC; British Summer Time ends 2026-10-25).
* ~60% NPS, ~25% CSAT, ~15% CES, over the touchpoints of the three teams in
  bot/data/workspace.yaml plus "web" and "app", which no team lists (they fall to the default team).
* Support is steady and good (phone hold times are worse in early September).
* Billing starts poor (a billing-system change double-charged people) and improves week by week.
* Delivery is good in September, falls apart in October after a change of courier, and recovers
  in November.
* The app has a log-out bug until the end of October.
* About forty praising comments name people from the roster, always someone in the team that owns
  the touchpoint; a handful of comments are hostile or tricky on purpose (Slack broadcast
  mentions, a disguised link, HTML-ish characters, emoji and accents, a 3,000-character rant, a
  phone number and an e-mail address) so that rendering and masking can be checked.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import unicodedata
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

SEED = 20261120
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bot" / "data" / "sample_responses.csv"

COLUMNS = ["id", "survey", "score", "comment", "customer_id", "customer_name", "customer_email",
           "touchpoint", "responded_at"]

START = date(2026, 8, 31)          # a Monday
WEEKS = 12                          # the last week stops on Friday 2026-11-20
END = date(2026, 11, 20)
BST_ENDS_UTC = datetime(2026, 10, 25, 1, 0)   # clocks go back: London = UTC from here on

# Answers per week (sum 600); October is busier because of the delivery trouble.
WEEKLY = [47, 49, 52, 48, 50, 53, 56, 54, 49, 48, 47, 47]
SURVEY_TOTALS = {"nps": 360, "csat": 150, "ces": 90}

DAY_WEIGHT = [1.25, 1.2, 1.15, 1.1, 1.0, 0.4, 0.3]          # Monday .. Sunday
HOUR_WEIGHT = [0.15, 0.08, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.7, 2.9, 3.3, 3.3,   # local time
               2.9, 3.0, 3.1, 2.9, 2.6, 2.1, 1.5, 1.3, 1.2, 0.9, 0.6, 0.3]

TEAM_OF = {
    "support": "support", "chat": "support", "phone": "support", "email": "support",
    "billing": "billing", "invoice": "billing", "refund": "billing",
    "delivery": "delivery", "returns": "delivery", "store": "delivery",
    "web": "default", "app": "default",   # listed by no team: routed to default_team
}
TOUCHPOINT_WEIGHT = {
    "support": 11, "chat": 12, "phone": 11, "email": 8,
    "billing": 10, "invoice": 5, "refund": 7,
    "delivery": 13, "returns": 8, "store": 6,
    "web": 5, "app": 4,
}

# How far delivery has slipped in each week (0 = normal, 1 = the worst of the courier change).
DELIVERY_DIP = [0, 0, 0, 0, 0.3, 0.75, 1.0, 1.0, 0.6, 0.3, 0.1, 0]


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------

def quality(team: str, touchpoint: str, week: int) -> tuple[float, float]:
    """(share of good answers, share of bad answers) for a team/touchpoint in a week."""
    if team == "support":
        good, bad = 0.47, 0.19
        if touchpoint == "phone":
            slip = max(0.0, (4 - week) / 4)          # hold times, better by late September
            good, bad = good - 0.12 * slip, bad + 0.16 * slip
    elif team == "billing":
        t = week / (WEEKS - 1)                        # steady improvement
        good, bad = 0.25 + 0.30 * t, 0.44 - 0.30 * t
    elif team == "delivery":
        d = DELIVERY_DIP[week]
        good, bad = 0.52 - 0.28 * d, 0.16 + 0.32 * d
    else:
        good, bad = 0.36, 0.28
        if touchpoint == "app" and week <= 8:
            good, bad = 0.28, 0.38                    # the log-out bug
    return good, bad


def quota(rng: random.Random, n: int, weights: dict[str, float]) -> list[str]:
    """n labels in proportion to weights (largest remainder, ties by chance), shuffled.

    Dealing from a quota rather than drawing each answer independently keeps the designed trends
    visible in samples as small as one team's week."""
    total = sum(weights.values())
    exact = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    spare = {k: exact[k] - counts[k] for k in exact}
    for _ in range(n - sum(counts.values())):
        keys = [k for k in spare if spare[k] > 0]
        k = rng.choices(keys, [spare[k] for k in keys])[0]
        counts[k] += 1
        spare[k] = 0
    labels = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(labels)
    return labels


def draw_score(rng: random.Random, kind: str, mood: str) -> int:
    """A score on the survey's scale for a good / middling / bad experience."""
    if kind == "nps":
        if mood == "good":
            return rng.choices([10, 9], [55, 45])[0]
        if mood == "middling":
            return rng.choices([8, 7], [55, 45])[0]
        return rng.choices([0, 1, 2, 3, 4, 5, 6], [5, 3, 4, 5, 6, 8, 10])[0]
    if kind == "csat":
        if mood == "good":
            return rng.choices([5, 4], [75, 25])[0]
        if mood == "middling":
            return rng.choices([4, 3], [78, 22])[0]
        return rng.choices([1, 2, 3], [35, 40, 25])[0]
    if mood == "good":                                 # ces
        return rng.choices([5, 4], [50, 50])[0]
    if mood == "middling":
        return rng.choices([4, 3, 2], [40, 45, 15])[0]
    return rng.choices([1, 2, 3], [35, 50, 15])[0]


def feeling(kind: str, score: int) -> str:
    """neg / mid / pos, for choosing a comment that fits the score."""
    if kind == "nps":
        return "neg" if score <= 6 else "mid" if score <= 8 else "pos"
    return "neg" if score <= 2 else "mid" if score == 3 else "pos"


def is_praise(kind: str, score: int) -> bool:
    """The answers that count as praise (bot.surveys.is_positive): NPS 9-10, CSAT 5, CES 4-5."""
    return score >= 9 if kind == "nps" else score == 5 if kind == "csat" else score >= 4


# --------------------------------------------------------------------------------------------
# Comments
# --------------------------------------------------------------------------------------------

COMMENTS: dict[tuple[str, str], list[str]] = {
    # ---- support team (and the default team's fallback) ----
    ("support", "neg"): [
        "Three different people, three different answers. Nobody seemed to know what the actual policy was.",
        "I was promised a call back within 24 hours. That was last Tuesday.",
        "Felt like I was being read a script. The person clearly wasn't listening to what the problem actually was.",
        "Ticket closed as 'resolved' without anyone fixing anything. Had to open a new one and start again.",
        "Disappointed. I've been a customer for six years and this is the first time I've felt like a nuisance.",
        "Asked to speak to a manager and was told none were available. All day?",
        "Kept being told it was a known issue and would be fixed soon. Soon was a month ago.",
        "The advice I got actually made things worse. Had to factory reset in the end and lost all my settings.",
        "Not good enough.",
        "Nobody took ownership. I got passed around like a hot potato.",
        "The help centre articles are out of date - the screens don't match what I see at all.",
        "Submitted a request through the support form, got an automated reply, then silence for five days.",
        "I explained the fault clearly, with photos, and was still asked whether I'd tried turning it off and on again.",
    ],
    ("chat", "neg"): [
        "The chatbot went round in circles for ten minutes before it let me talk to a human.",
        "Chat agent kept pasting the same canned answer. Asked a simple question about my order, got a link to the FAQ three times.",
        "Chat disconnected halfway through and I lost the whole conversation. Had to start from scratch with someone new.",
        "Queue position said 3 for twenty minutes.",
        "Agent went quiet for 15 minutes mid-chat, then came back and asked me to repeat my postcode.",
        "Why does the chat close if I switch tabs? Lost my place twice.",
        "The transcript email never arrived, so now I have no record of what I was promised.",
    ],
    ("phone", "neg"): [
        "Waited 40 minutes on hold, then got cut off when they tried to transfer me.",
        "On hold for over an hour. The music is not a substitute for staff.",
        "The phone menu has no option for my problem, so I pressed 0 until someone answered. Ridiculous.",
        "Put on hold four times in one call, and every time I had to confirm my date of birth again.",
        "Was told someone would ring me back before 5pm. Nobody did.",
        "Terrible line, could barely hear the agent, and when I asked him to repeat himself he got short with me.",
        "The recording said the wait was about 5 minutes. It was 47. I timed it.",
        "waited on hold so long my phone died",
    ],
    ("email", "neg"): [
        "Emailed three times over two weeks. Got one reply, which didn't answer the question.",
        "Your reply asked me for information that was already in my original email. Attached. In bold.",
        "Took six working days to get an email back. By then I'd sorted it myself.",
        "Every reply comes from a different person who obviously hasn't read the thread.",
        "Got an email saying my case was closed. It wasn't solved - I just hadn't replied within 48 hours because I was at work.",
    ],
    ("support", "mid"): [
        "Got there in the end but it took longer than it should have.",
        "Agent was friendly enough, though I had to explain everything twice.",
        "Solved, but I had to chase.",
        "Helpful once I got through. Getting through is the problem.",
        "Decent answer, slightly slow.",
        "Fine. Nothing special, nothing terrible.",
        "They fixed it but couldn't tell me why it happened, so I suppose it'll happen again.",
    ],
    ("chat", "mid"): [
        "Chat was quick but the answer was a bit generic.",
        "Chat worked, though the bot bit at the start is annoying.",
        "Took a while to get connected but the agent knew her stuff.",
        "Reasonable. I'd prefer not to have to type my order number out twice.",
    ],
    ("phone", "mid"): [
        "Hold time was about 15 minutes, which is too long, but the person who answered was nice.",
        "OK call. Would have been better if I didn't go through security questions twice.",
        "Problem solved on the second call.",
        "Nice enough chap, bit rushed.",
    ],
    ("email", "mid"): [
        "Reply took two days, which is okay I suppose.",
        "Useful reply, but I had to read it twice to work out what I needed to do.",
        "Answered my question, didn't answer the follow-up.",
    ],
    ("support", "pos"): [
        "Sorted on the first contact. No transfers, no hold music. More of this please.",
        "Friendly, knew exactly what to do, and followed up the next day to check it was still working.",
        "Honestly didn't expect much but I was really impressed.",
        "Quick, polite, and they explained why it happened so I know how to avoid it next time.",
        "Genuinely the best customer service I've had this year.",
        "Problem fixed and they credited my account without me even asking. Nice touch.",
        "I was fully expecting a battle and there wasn't one. Thank you.",
        'Whoever wrote the reply to my complaint: thank you. It was honest and it fixed things.',
        'They rang me back exactly when they said they would. Such a simple thing, and so rare.',
        'Very professional. Took ownership and kept me updated at every step.',
        "Excellent. I'd been dreading having to contact you and it was completely painless.",
        'Great service from start to finish. Have already told my sister.',
        "Knowledgeable and kind. Didn't rush me at all, even though I'm sure they were busy.",
        'My problem was a bit unusual and they still found a way to sort it. Really appreciated.',
        "Couldn't fault it. Quick, friendly, fixed.",
        "Fixed a problem I'd been putting up with for months, in ten minutes. Wish I'd asked sooner!",
        'Really good experience - felt like talking to a person, not a call centre.',
        '10/10 would complain again. (Joking, but seriously, well handled.)',
        'Thanks for sorting my account out so quickly before my holiday.',
    ],
    ("chat", "pos"): [
        "Chat was great - connected within a minute and the agent fixed it while I waited.",
        "Loved that I could send a screenshot in the chat. Sorted in no time.",
        "Fast, friendly chat. Exactly what I needed on a lunch break.",
        "Much better than phoning. Will use chat again.",
        "Chat agent was quick and actually read what I'd written before replying.",
        'Got a transcript of the chat emailed to me afterwards, which was handy.',
        'Chat answered in seconds, on a Saturday. Impressed.',
    ],
    ("phone", "pos"): [
        "Answered in under two minutes. Didn't think that was possible any more!",
        "The lady on the phone was so patient with me. I'm not good with technology and she never once made me feel stupid.",
        "Straight through to someone who could actually help. Thank you.",
        "Called expecting to be on hold for ages, was sorted before my tea went cold.",
    ],
    ("email", "pos"): [
        "Clear, detailed email reply the same day. Much appreciated.",
        "The step-by-step email with screenshots was perfect.",
        "Replied within a few hours even though I'd sent it late at night.",
    ],
    # ---- billing team ----
    ("billing", "neg"): [
        "Price went up with no warning. Found out from my bank statement.",
        "I cancelled in July and you're still taking money. This is the third time I've told you.",
        "Nobody could explain what the 'service adjustment' on my bill is for.",
        "Direct debit taken two days early and it put me into my overdraft. The bank charged me £25 - who pays that?",
        "Got a late payment letter for a bill I paid on time. I have the receipt.",
        "Really disappointed. I was told there'd be no charge and then there was.",
        "Billing is a mess. I shouldn't need a spreadsheet to understand what I owe you.",
        "Was told my loyalty discount would carry over to the new plan. It didn't.",
        "Online account shows one balance, the letter shows another. Which one do I pay?",
        "Charged twice for the same month and it took four emails to get one of them back.",
    ],
    ("invoice", "neg"): [
        "Invoice had the wrong company name on it AGAIN. Our finance team rejected it.",
        "Still haven't received last month's invoice. I can't pay what I haven't been sent.",
        "The PDF invoice doesn't show VAT separately, which makes it useless for our accounts.",
        "Asked for a corrected invoice three weeks ago. Still waiting.",
        "Why is the invoice reference different from the one on the order confirmation? Our system can't match them up.",
    ],
    ("refund", "neg"): [
        "Refund promised three weeks ago. Still nothing in my account.",
        "Was told 3-5 working days for the refund. It's been 19.",
        "Partial refund only and nobody told me why. Had to chase to find out about a 'restocking fee' that isn't mentioned anywhere.",
        "Refunded to a card that expired in June. Now I'm told I have to wait for it to bounce back.",
        "You took the money in seconds but need a month to give it back?",
        "Told my refund was approved, then told it wasn't, then told it was again. Which is it?",
        "The refund went to the wrong account and now I have to prove it's not mine.",
        'Had to threaten a chargeback before anyone processed my refund.',
    ],
    ("billing", "mid"): [
        "The bill was right in the end, but I had to ring up to check.",
        "They fixed the charge. Would be nice not to have had it in the first place.",
        "Took a couple of attempts but it's sorted.",
        "Reasonable. The breakdown on the bill could be a lot clearer.",
        "Payment plan set up, but the call took 35 minutes.",
    ],
    ("invoice", "mid"): [
        "Invoice was corrected, just slower than we'd like.",
        "New invoice layout is better. Still missing our PO number though.",
    ],
    ("refund", "mid"): [
        "Refund came through in about a week. Fine.",
        "Got my money back eventually.",
        "Refund arrived, although the email saying it was coming came four days after the money did.",
    ],
    ("billing", "pos"): [
        "Sorted the double charge in one call and refunded it the same day.",
        "Really clear explanation of my bill. First time I've actually understood it.",
        "Moved me to a cheaper plan I didn't know existed. Saving about £12 a month.",
        "Quick and painless, which is not what I expected from a billing call!",
        "Much better than the last time I had to contact billing. Whatever you've changed, keep it.",
    ],
    ("invoice", "pos"): [
        "Invoice re-issued within the hour with the right details. Our finance team is happy, so I'm happy.",
        "Love that invoices now come with our PO number on them.",
    ],
    ("refund", "pos"): [
        "Refund in my account the next morning. Great.",
        "No arguments, no forms, just refunded. Thank you.",
        "The refund was faster than the original delivery!",
    ],
    # ---- delivery & returns team ----
    ("delivery", "neg"): [
        "Parcel left in the rain on my doorstep. The box was soaked through and the contents are ruined.",
        "Tracking said delivered. It wasn't. The neighbours haven't got it either.",
        "Waited in all day for a delivery that never came, and nobody told me.",
        "Driver didn't even knock. 'Sorry we missed you' card through the door while I was sitting in the front room.",
        "Item arrived damaged. The box looked like it had been kicked down the street.",
        "Delivery window was 7am to 9pm. That's not a window, that's a day.",
        "Third failed delivery attempt. I've now taken two days off work for this.",
        "Wrong item delivered, and the right one is apparently out of stock now.",
        "late",
        'Paid extra for next day delivery and it came four days later. I want the extra back.',
        "The driver left my parcel in the communal hallway of a block of 40 flats. Unsurprisingly it's gone.",
        'Rescheduled my delivery twice without asking me.',
        "No tracking updates for five days, then suddenly 'delivered' at 9pm. It wasn't.",
        "Half my order arrived. The other half is 'on its way', apparently, since last Thursday.",
    ],
    ("returns", "neg"): [
        "Return label wouldn't print and the online form kept timing out.",
        "Sent the item back a month ago, you've got it (I have the tracking), and still no refund.",
        "Had to pay return postage on a faulty item. That's not right.",
        "Collection for the return was booked twice and nobody turned up either time.",
        "The returns process is ridiculously complicated. Why do I need to give the reason three times?",
    ],
    ("store", "neg"): [
        "Click and collect order wasn't ready when I arrived, even though the text said it was.",
        "Queued 25 minutes at the store to collect a parcel. One person on the desk.",
        "Store staff said they couldn't process an online return. Your website says they can.",
        "The collection locker wouldn't open with my code and there was nobody to ask.",
    ],
    ("delivery", "mid"): [
        "Arrived a day late but in one piece.",
        "Delivery was fine. Tracking could be more accurate.",
        "Okay. Driver seemed very rushed.",
        "Got it in the end.",
        'Came a day after the estimate. Not the end of the world.',
        'Fine, though I had to rearrange my afternoon around a four-hour slot.',
        'Driver was fine, but the box had clearly been dropped.',
        "Delivery fine, packaging excessive - three boxes for one phone case.",
    ],
    ("returns", "mid"): [
        "Return was processed eventually. Took longer than I'd like.",
        "Simple enough, though the drop-off point was a trek.",
    ],
    ("store", "mid"): [
        "Collection was quick once I found the desk. The signs could be better.",
        "Store was busy but they found my order.",
    ],
    ("delivery", "pos"): [
        "Arrived a day early and the driver put it exactly where I asked.",
        "Really good delivery. Text with a one-hour slot, and they stuck to it.",
        "Driver was lovely and carried it upstairs for me.",
        "Well packaged, on time, no complaints at all.",
        "The live tracking map is brilliant. Knew exactly when to put the kettle on.",
        "Delivered on a Sunday! Didn't even know that was an option.",
        'Perfect - the driver rang ten minutes before, so I could nip back from the shop.',
        'Everything arrived together, nothing damaged, and the driver was polite. What more do you want?',
        'Safe place instructions followed to the letter. Thank you.',
        'Next day delivery actually arrived the next day. Impressed.',
        'Great service, heavy item brought right into the kitchen.',
        'Tracking was spot on and the parcel was well wrapped.',
    ],
    ("returns", "pos"): [
        "Easiest return I've ever done. QR code at the drop-off point, no printer needed.",
        "Refund for my return landed two days after I dropped it off. Impressive.",
        "Collected from my door at a time that suited me. Couldn't be simpler.",
        'Dropped the return off at the corner shop on my way to work. Easy.',
        'Return and exchange sorted in one go, new size arrived two days later.',
        'The returns page told me exactly what to do and how long it would take, and it was right.',
    ],
    ("store", "pos"): [
        "In and out of the store in two minutes with my order.",
        "Staff in store were really welcoming and helped me check everything was there.",
        "The lockers are great - picked it up at 10pm on my way home.",
    ],
    # ---- touchpoints no team lists ----
    ("web", "neg"): [
        "Checkout kept failing at the payment step. Tried three different cards.",
        "Website is painfully slow on mobile.",
        "Couldn't find any way to contact a person on the website. Every link goes back to the FAQ.",
        "Password reset email never arrives.",
        "Site crashed after I'd filled in a long form. Lost everything.",
    ],
    ("app", "neg"): [
        "App crashes when I try to upload a photo of the damage.",
        "The last update removed my order history. Why?",
        "Notifications from the app arrive hours after the thing they're telling me about.",
    ],
    ("web", "mid"): [
        "Website does the job. Bit clunky.",
        "Found what I needed eventually.",
    ],
    ("app", "mid"): [
        "App is fine for tracking, not much else.",
        "App's okay. Dark mode would be nice.",
    ],
    ("web", "pos"): [
        "New website is much easier to use.",
        "Ordered in two minutes, really smooth.",
        'Found the answer in the help pages without having to contact anyone. Good.',
        'Changing my delivery address online was really simple.',
    ],
    ("app", "pos"): [
        "App is brilliant for tracking orders.",
        "Easy to use app, everything is where you'd expect it to be.",
    ],
    # ---- effort (CES) comments, any team ----
    ("ces", "neg"): [
        "Had to explain my issue three times to three different people.",
        "Far too many steps just to change my address.",
        "Not easy at all. I had to call, then email, then call again.",
        "I shouldn't have to chase you to fix your own mistake.",
        "Over an hour of my time for something that should take five minutes.",
    ],
    ("ces", "mid"): [
        "Easy enough once I knew where to look.",
        "Bit of effort, but manageable.",
        "Not hard, not easy.",
    ],
    ("ces", "pos"): [
        "Couldn't have been easier.",
        "Took two minutes, start to finish.",
        "No effort at all on my side - they did everything.",
        "Really straightforward, thanks.",
        'Everything done in one call, nothing for me to chase.',
        'So easy. Just a couple of clicks.',
        "Easy - they already had all my details and didn't ask for anything twice.",
        'Much simpler than I expected.',
    ],
    # ---- very short ones, any team ----
    ("short", "neg"): ["Slow.", "Not impressed.", "Useless", "Terrible service", "Poor", "Very disappointing",
                       "no", "Still not fixed", "rubbish", "Waste of time"],
    ("short", "mid"): ["ok", "Fine", "Average", "It was alright", "Could be quicker", "meh", "fine i guess",
                       "Not bad", "So-so", "Did the job", "Nothing to write home about", "OK I suppose",
                       "Satisfactory"],
    ("short", "pos"): ["Great!", "Thanks", "Very helpful", "Spot on", "Excellent", "Brilliant service",
                       "Superb", "Fast and friendly", "Really good", "👍", "Lovely people", "Top notch",
                       "Brilliant, thank you", "very good service", "Quick and easy", "Perfect"],
}

# Complaints that only make sense at certain times: (key, feeling) -> (first week, last week).
PERIOD_COMMENTS: dict[tuple[str, str], tuple[int, int, list[str]]] = {
    ("billing", "neg"): (0, 4, [
        "Ever since the new billing system my account number is different on every letter.",
        "Charged twice this month. Your agent said it was 'the system migration' and happening to lots of people. Not my problem to fix.",
        "My payment history disappeared from the online account after your billing update.",
        "Two bills arrived this week, for different amounts, both for September.",
        "charged twice. AGAIN.",
    ]),
    ("delivery", "neg"): (5, 8, [
        "Since you switched couriers it's been one disaster after another.",
        "The new courier threw my parcel over the side gate. It had glass in it.",
        "Parcel left in the rain again. This never happened with your old delivery company.",
        "The photo 'proof of delivery' shows a front door that isn't mine.",
        "Order was meant to arrive in 2 days and took 9. Tracking just said 'in transit' the whole time.",
        "My parcel went to a depot 200 miles away and back. Twice.",
        "Left with a neighbour four doors down I've never met, with no note.",
        "Driver marked it as 'customer refused'. I didn't refuse anything - I was at work and nobody came.",
    ]),
    ("app", "neg"): (0, 8, [
        "App keeps logging me out. Every. Single. Time.",
        "The app logs me out since the last update. I have to type my password every time I open it.",
        "Logged out again. The Face ID setting resets every time I open the app.",
        "Can't stay logged in to the app for more than 5 minutes. It's been like this for weeks.",
    ]),
    ("phone", "neg"): (0, 3, [
        "Waited 40 minutes on hold. Forty. Then the call dropped.",
        "Hold queue is unbearable at the moment. Are you short-staffed?",
    ]),
}

COMMENT_RATE = {"neg": 0.86, "mid": 0.52, "pos": 0.62}
SHORT_RATE = {"neg": 0.12, "mid": 0.35, "pos": 0.28}

# Praise naming roster people: (touchpoints it fits, text).  Names always belong to the team
# that owns the touchpoint.  Includes a bare "Sam" (Sam Taylor is the only Sam), the full
# "Sam Taylor", and one customer unsure whether it was Sam or Samira.
NAMED_PRAISE: list[tuple[tuple[str, ...], str]] = [
    # support: Alice Martin, Bob Okafor, Carlos Ruiz, Morgan Lee (manager)
    (("phone",), "Alice sorted it in five minutes. Wish every call went like that."),
    (("chat",), "Alice Martin on chat was so patient with me even though I was clearly flustered. Thank you!"),
    (("support", "phone"), "Big thanks to Alice - she actually called me back when she said she would."),
    (("email",), "Bob Okafor replied to my email on a Sunday evening and fixed the login problem. Above and beyond."),
    (("phone",), "Bob was brilliant. Calm, clear, and he didn't make me repeat my account number four times."),
    (("chat",), "bob in chat = legend"),
    (("phone", "support"), "Carlos explained the settings step by step and stayed on the line until it worked."),
    (("support",), "Carlos Ruiz deserves a pay rise. Sorted out a mess that two other companies couldn't."),
    (("email",), "Really clear instructions from Carlos, with screenshots. Took me two minutes after that."),
    (("support", "phone"), "Morgan Lee followed up personally after my complaint last month and made sure it was put right. That's how you keep a customer."),
    (("chat",), "Alice and Bob both helped me over two chats and the handover was seamless - I didn't have to explain it all again."),
    (("phone",), "Thanks Carlos!"),
    (("support", "chat"), "Whoever Alice is, give her a medal."),
    (("email",), "Thank you Carlos Ruiz for your patience with my many, many questions."),
    # billing: Priya Nair, Tom Becker, Meera Shah (manager)
    (("billing",), "Priya Nair was brilliant. Went through every line of my bill with me."),
    (("refund",), "Priya had the refund back on my card the same afternoon. Genuinely impressed."),
    (("invoice",), "Priya sorted the VAT on our invoices, so our accountant has finally stopped emailing me."),
    (("billing",), "Tom was great - explained why the direct debit changed and set up a payment plan without any fuss."),
    (("refund",), "Tom Becker processed my refund while I was still on the phone. 10/10."),
    (("invoice",), "Tom re-issued the invoice with our PO number within the hour. Thank you."),
    (("billing",), "Meera Shah called me back personally to apologise for the double charge and credited the account. Turned a bad week around."),
    (("billing",), "Thanks to Priya and Tom, who between them untangled three months of wrong bills."),
    (("refund",), "priya nair is a star ⭐"),
    (("billing", "refund"), "Meera took the time to explain everything. Very reassuring."),
    (("invoice", "billing"), "Tom Becker and the billing team were quick and friendly."),
    # delivery & returns: Sam Taylor, Samira Haddad, Jonas Berg, Grace Kim (manager)
    (("returns",), "Sam on the returns desk was lovely and the label came through straight away."),
    (("delivery",), "Sam rang ahead to say the driver was running late. Small thing but it made a difference."),
    (("store",), "Thanks Sam!"),
    (("store",), "Sam was really kind to my dad, who isn't very confident with the self-service machines."),
    (("delivery",), "Sam Taylor tracked down my parcel when it went missing at the depot and had it with me the next morning."),
    (("returns",), "Sam Taylor made the return completely painless. Collected from my door, refund two days later."),
    (("delivery",), "Driver was lovely, and Sam Taylor in the office kept me updated all day."),
    (("store",), "Samira at the collection point found my order even though the system said it wasn't there."),
    (("delivery",), "Samira Haddad rebooked my delivery for a Saturday at no charge. Brilliant."),
    (("returns",), "Sam or Samira, not sure which one it was, but someone on the returns team sorted out my exchange really quickly. Thank them both!"),
    (("returns", "store"), "Samira was fantastic."),
    (("delivery",), "Jonas picked up my call and found me a new delivery slot in about two minutes."),
    (("store",), "Jonas Berg at click and collect was so helpful, he even carried the boxes out to my car."),
    (("delivery",), "Jonas and Samira were both great on the phone. Quick and friendly."),
    (("returns", "delivery"), "Jonas Berg - quick, polite, done."),
    (("delivery",), "Grace Kim personally followed up after my complaint about the last delivery. Appreciated the honesty."),
]

LONG_RANT = """I've been putting off writing this because I knew once I started I wouldn't stop, so here goes.

I ordered a garden bench on the 2nd of October. Delivery was booked for the 6th, a Tuesday, between 8am and 6pm. I took the day off work. Nobody came. At 6.40pm I got a text saying the delivery had been "rescheduled due to operational issues". Rescheduled to when? It didn't say.

I called the next morning and waited 38 minutes on hold. The person I spoke to was polite but could only see what I could see on the tracking page, which was nothing useful. She said someone from the courier would contact me within 48 hours. They did not.

On the 9th the tracking changed to "delivered". It had not been delivered. I was at home all day. I checked the front, the back, the bins and the neighbours on both sides. I sent you a photo of my empty doorstep. I got an automated reply saying my enquiry was important to you.

On the 13th a different driver turned up with the bench. The box had clearly been out in the rain for days - the cardboard was falling apart and one of the slats was split right down the middle. He wanted me to sign for it as received in good condition. I refused and wrote DAMAGED on his handheld thing, and he got quite short with me and said that wasn't his problem.

I then spent most of that week trying to arrange a return. The returns form on your website doesn't have an option for "your courier destroyed it", so I chose "other", typed out the whole story, and the form timed out and I lost it. The second time it went through and I got a reference number. Then an email said the collection was booked for the 20th. Nobody came on the 20th either.

So, to summarise: two days off work, four phone calls, six emails, one broken bench still sitting in my hallway because it's too big to go anywhere else, and not a single person at your company who has taken ownership of any of it. Every time I call I have to start from the beginning. Every time I'm told it will be "escalated". I'd love to know where escalated things go, because it doesn't seem to be anywhere near anyone who can actually do something.

I have been a customer for nine years. I've recommended you to friends and family. Until this autumn I'd have said your delivery was one of the reasons to shop with you. Whatever changed - and the second driver told me you switched courier companies in September - it has been a disaster, and the way the complaints have been handled has been worse than the deliveries themselves.

What I want: the broken bench collected, a full refund including the delivery charge, and for someone to actually phone me and tell me what happened, rather than another email from a no-reply address. I don't think that's unreasonable. If I don't hear anything by the end of the month I'll be raising it with my card provider and leaving a review everywhere I can find. And please don't send me another survey asking how easy it was to deal with you."""

# Hostile or tricky comments, placed on purpose: (touchpoint, survey, score, first day, last day,
# customer ("new", "anon" or a fixed (name, email)), text).
SPECIALS: list[dict] = [
    dict(tag="slack-channel", touchpoint="delivery", survey="nps", score=1,
         days=(date(2026, 10, 12), date(2026, 10, 16)), customer="new",
         comment="<!channel> your courier threw my parcel over the fence AGAIN. Third time this month. "
                 "Somebody please do something about it."),
    dict(tag="at-here", touchpoint="chat", survey="csat", score=1,
         days=(date(2026, 9, 14), date(2026, 9, 18)), customer="new",
         comment="@here is anyone actually reading these?? Chat said 2 minute wait, I sat there for 35 "
                 "minutes and then it closed on me."),
    dict(tag="disguised-link", touchpoint="web", survey="nps", score=2,
         days=(date(2026, 10, 20), date(2026, 10, 22)), customer="anon",
         comment="Your checkout page is broken, <https://evil.example|click here> to see the error I got. Fix it!!"),
    dict(tag="html-chars", touchpoint="invoice", survey="csat", score=2,
         days=(date(2026, 9, 22), date(2026, 9, 24)), customer="new",
         comment='Quoted < £40/month & billed > £55. The invoice says "Standard & Extras" but I never asked '
                 "for extras. <b>Please</b> explain -> by email, not post."),
    dict(tag="emoji-accents", touchpoint="store", survey="nps", score=10,
         days=(date(2026, 11, 3), date(2026, 11, 6)), customer=("Inês Gonçalves", "ines.goncalves@example.org"),
         comment="José and Zoë at the store were so kind to my mum 😊🎉 She left with a big smile. Muchas gracias!"),
    dict(tag="long-rant", touchpoint="delivery", survey="nps", score=0,
         days=(date(2026, 10, 21), date(2026, 10, 23)), customer="new", comment=LONG_RANT),
    dict(tag="contact-details", touchpoint="refund", survey="nps", score=3,
         days=(date(2026, 10, 5), date(2026, 10, 8)), customer=("Marcus Osei", "marcus.osei@example.com"),
         comment="Refund promised three weeks ago and still nothing. Please call me on 07700 900461 or email "
                 "m.osei.work@example.org - I don't check the address on my account any more."),
    dict(tag="script-tag", touchpoint="app", survey="ces", score=1,
         days=(date(2026, 9, 8), date(2026, 9, 11)), customer="new",
         comment="<script>alert('logged out')</script> that's basically your app. It logs me out every time "
                 "I switch to another app and back."),
    dict(tag="user-mention", touchpoint="support", survey="nps", score=4,
         days=(date(2026, 11, 10), date(2026, 11, 12)), customer="new",
         comment="*URGENT* <@U0ADMIN> can someone senior look at ticket 88213? I've been fobbed off twice "
                 "and I'm _done_ waiting."),
]


class Deck:
    """Deals comments without repeats until the pile runs out, then reshuffles."""

    def __init__(self, rng: random.Random, items: list[str]):
        self.rng, self.items, self.pile = rng, list(items), []

    def deal(self) -> str:
        if not self.pile:
            self.pile = list(self.items)
            self.rng.shuffle(self.pile)
        return self.pile.pop()


class CommentWriter:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.decks = {k: Deck(rng, v) for k, v in COMMENTS.items()}
        self.period = {k: (a, b, Deck(rng, v)) for k, (a, b, v) in PERIOD_COMMENTS.items()}

    def write(self, kind: str, score: int, touchpoint: str, week: int) -> str:
        rng, mood = self.rng, feeling(kind, score)
        if rng.random() > COMMENT_RATE[mood]:
            return ""
        if rng.random() < SHORT_RATE[mood]:
            return self.decks[("short", mood)].deal()
        if kind == "ces" and rng.random() < 0.4:
            return self.decks[("ces", mood)].deal()
        team = TEAM_OF[touchpoint]
        period = self.period.get((touchpoint, mood))
        if period and period[0] <= week <= period[1] and rng.random() < 0.65:
            return period[2].deal()
        own = self.decks.get((touchpoint, mood))
        if own is not None and (team == "default" or touchpoint == team or rng.random() < 0.6):
            return own.deal()
        return self.decks[(team if team != "default" else "support", mood)].deal()


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------

# (first names, surnames) per naming tradition; no one shares a name with the staff roster.
NAME_GROUPS: list[tuple[list[str], list[str]]] = [
    (["Oliver", "Charlotte", "Harry", "Amelia", "Jack", "Sophie", "George", "Emily", "Lucy", "Daniel",
      "Hannah", "James", "Rebecca", "Matthew", "Laura", "Chris", "Rachel", "Paul", "Helen", "Stuart",
      "Fiona", "Gareth", "Nicola", "Ian", "Joanne", "Dana"],
     ["Clarke", "Hughes", "Wright", "Robinson", "Thompson", "Evans", "Harris", "Cooper", "Ward", "Turner",
      "Bennett", "Parker", "Collins", "Edwards", "Morris", "Price", "Hall", "Fletcher", "Barnes", "Holmes",
      "Pearson", "Jenkins", "Lloyd"]),
    (["Siobhan", "Ciara", "Niamh", "Declan", "Cillian", "Aoife", "Pádraig", "Róisín"],
     ["Murphy", "O'Brien", "Kelly", "Byrne", "Doyle", "McCarthy", "O'Sullivan", "Quinn"]),
    (["Arjun", "Ananya", "Rohan", "Kavya", "Vikram", "Nisha", "Sanjay", "Deepa", "Imran", "Farah",
      "Bilal", "Ayesha", "Harpreet", "Gurpreet", "Ravi", "Sunita"],
     ["Patel", "Sharma", "Gupta", "Iyer", "Khan", "Hussain", "Chaudhry", "Singh", "Reddy", "Menon",
      "Bose", "Ahmed", "Malik"]),
    (["Wei", "Mei", "Jun", "Xin", "Hao", "Lin"], ["Chen", "Wang", "Zhang", "Liu", "Wong", "Huang"]),
    (["Hiroshi", "Yuki", "Hana", "Kenji", "Aiko"], ["Tanaka", "Sato", "Yamamoto", "Suzuki", "Ito"]),
    (["Minh", "Linh", "Thu", "Quang"], ["Nguyen", "Tran", "Pham", "Le"]),
    (["Ji-woo", "Seo-yeon", "Min-jun", "Hye-jin"], ["Park", "Choi", "Jung", "Kang"]),
    (["Chidi", "Ngozi", "Kwame", "Ama", "Tunde", "Folake", "Kofi", "Abena", "Thabo", "Zanele", "Yaw",
      "Adaeze", "Emeka"],
     ["Adeyemi", "Mensah", "Osei", "Boateng", "Nwosu", "Eze", "Adebayo", "Owusu", "Dlamini", "Ndlovu",
      "Okonkwo", "Asante"]),
    (["Lucía", "Mateo", "Sofía", "Diego", "Valentina", "Javier", "Camila", "Andrés", "Inês", "João",
      "Marta", "Pablo"],
     ["García", "Fernández", "López", "Martínez", "Torres", "Moreno", "Silva", "Costa", "Pereira",
      "Reyes", "Castillo", "Herrera"]),
    (["Katarzyna", "Piotr", "Agnieszka", "Marek", "Ewa", "Olena", "Dmytro", "Andrei", "Ioana", "Bogdan",
      "Petra"],
     ["Nowak", "Kowalczyk", "Wójcik", "Mazur", "Kovalenko", "Popescu", "Ionescu", "Horvat", "Kovač",
      "Shevchenko"]),
    (["Lars", "Ingrid", "Freya", "Nils", "Astrid", "Henrik", "Anneke", "Pieter", "Lena", "Felix", "Katja"],
     ["Johansson", "Nilsson", "Larsen", "Andersen", "de Vries", "van Dijk", "Schmidt", "Fischer", "Weber",
      "Hoffmann"]),
    (["Omar", "Layla", "Youssef", "Nour", "Karim", "Yasmin", "Tariq", "Leila", "Mehmet", "Elif",
      "Dariush", "Shirin"],
     ["Al-Sayed", "Hassan", "Mansour", "Khalil", "Farouk", "Demir", "Yılmaz", "Kaya", "Rahimi",
      "Hosseini"]),
    (["Camille", "Théo", "Chloé", "Luca", "Giulia", "Marco", "Francesca", "Élodie"],
     ["Dubois", "Lefèvre", "Moreau", "Rossi", "Bianchi", "Romano", "Ricci", "Esposito"]),
]
GROUP_WEIGHT = [34, 6, 14, 3, 2, 2, 2, 9, 8, 7, 5, 6, 3]

_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "ß": "ss", "ı": "i", "đ": "d"})


def ascii_fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in " -")).lower()


class Customers:
    def __init__(self, rng: random.Random, first_id: int = 1001):
        self.rng, self.next_id = rng, first_id
        self.known: list[tuple[str, str, str]] = []
        self.names: set[str] = set()
        self.emails: set[str] = set()

    def _email(self, name: str) -> str:
        rng = self.rng
        first, _, last = name.partition(" ")
        f, l = ascii_fold(first).replace(" ", "").replace("-", ""), ascii_fold(last).replace(" ", "").replace("-", "")
        domain = rng.choices(["example.com", "example.org"], [70, 30])[0]
        local = rng.choices([f"{f}.{l}", f"{f[0]}{l}", f"{f}{l}", f"{f}_{l}", f"{l}.{f}", f"{f}.{l[0]}",
                             f"{f}{rng.randint(1, 99)}"], [40, 18, 10, 6, 6, 8, 12])[0]
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{rng.randint(2, 999)}@{domain}"
        self.emails.add(email)
        return email

    def new(self, name: str | None = None, email: str | None = None) -> tuple[str, str, str]:
        rng = self.rng
        while name is None:
            g = rng.choices(range(len(NAME_GROUPS)), GROUP_WEIGHT)[0]
            firsts = NAME_GROUPS[g][0]
            lasts = NAME_GROUPS[g][1] if rng.random() < 0.93 else NAME_GROUPS[0][1]
            candidate = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            name = None if candidate in self.names else candidate
        self.names.add(name)
        if email is None:
            email = self._email(name)
        else:
            self.emails.add(email)
        cust = (f"c-{self.next_id}", name, email)
        self.next_id += 1
        self.known.append(cust)
        return cust

    def pick(self) -> tuple[str, str, str]:
        """Someone answering: mostly new people, some coming back (a few of them often)."""
        rng = self.rng
        u = rng.random()
        if u < 0.06:
            return ("", "", "")                              # anonymous
        cust = None
        if self.known and u < 0.30:
            # earlier customers; the first few dozen come back most
            cust = self.known[min(int(rng.expovariate(1 / 60)), len(self.known) - 1)]
        if cust is None:
            cust = self.new()
        if rng.random() < 0.03:
            return (cust[0], cust[1], "")                    # known by name, no e-mail on file
        return cust


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------

def to_utc(local: datetime) -> datetime:
    """London wall-clock time to UTC (BST until 2026-10-25 01:00 UTC)."""
    return local - timedelta(hours=1) if local - timedelta(hours=1) < BST_ENDS_UTC else local


def when(rng: random.Random, day: date) -> datetime:
    lo = datetime(START.year, START.month, START.day)
    hi = datetime(END.year, END.month, END.day) + timedelta(days=1)
    while True:
        hour = rng.choices(range(24), HOUR_WEIGHT)[0]
        local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60))
        utc = to_utc(local)
        if lo <= utc < hi:
            return utc


def week_days(week: int) -> list[date]:
    first = START + timedelta(weeks=week)
    return [d for d in (first + timedelta(days=i) for i in range(7)) if d <= END]


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------------

def generate(seed: int = SEED) -> list[dict[str, str]]:
    rng = random.Random(seed)
    customers = Customers(rng)
    writer = CommentWriter(rng)
    rows: list[dict] = []

    # The special comments first, so the regular ones fill the rest of each week.
    per_week = list(WEEKLY)
    kinds_left = dict(SURVEY_TOTALS)
    for sp in SPECIALS:
        first, last = sp["days"]
        day = first + timedelta(days=rng.randrange((last - first).days + 1))
        per_week[(day - START).days // 7] -= 1
        kinds_left[sp["survey"]] -= 1
        if sp["customer"] == "anon":
            cust = ("", "", "")
        elif sp["customer"] == "new":
            cust = customers.new()
        else:
            cust = customers.new(*sp["customer"])
        rows.append(dict(survey=sp["survey"], score=sp["score"], comment=sp["comment"], customer=cust,
                         touchpoint=sp["touchpoint"], at=when(rng, day), tag=sp["tag"]))

    kinds = [k for k, n in kinds_left.items() for _ in range(n)]
    rng.shuffle(kinds)
    for week, count in enumerate(per_week):
        days = week_days(week)
        weights = {tp: w * (1 + 0.35 * DELIVERY_DIP[week] if TEAM_OF[tp] == "delivery" else 1)
                   for tp, w in TOUCHPOINT_WEIGHT.items()}
        batch = [(tp, kinds.pop()) for tp in quota(rng, count, weights)]
        noise = {team: rng.uniform(-0.03, 0.03) for team in sorted(set(TEAM_OF.values()))}
        odds = []
        for tp, _kind in batch:
            good, bad = quality(TEAM_OF[tp], tp, week)
            n = noise[TEAM_OF[tp]]
            odds.append((good + n, bad - n))
        moods = [""] * len(batch)
        for group in sorted({(TEAM_OF[tp], kind) for tp, kind in batch}):
            idx = [i for i, (tp, kind) in enumerate(batch) if (TEAM_OF[tp], kind) == group]
            goods, bads = sum(odds[i][0] for i in idx), sum(odds[i][1] for i in idx)
            dealt = quota(rng, len(idx), {"good": goods, "middling": len(idx) - goods - bads, "bad": bads})
            # hand the bad experiences to the answers most likely to have had one (phone queues...)
            for mood, which in (("bad", 1), ("good", 0)):
                for _ in range(dealt.count(mood)):
                    free = [i for i in idx if not moods[i]]
                    moods[rng.choices(free, [odds[i][which] for i in free])[0]] = mood
            for i in idx:
                moods[i] = moods[i] or "middling"
        for (tp, kind), mood in zip(batch, moods):
            day = rng.choices(days, [DAY_WEIGHT[d.weekday()] for d in days])[0]
            score = draw_score(rng, kind, mood)
            rows.append(dict(survey=kind, score=score, comment=writer.write(kind, score, tp, week),
                             customer=customers.pick(), touchpoint=tp, at=when(rng, day), tag=""))
    assert not kinds

    # Praise naming staff goes on praising answers from the touchpoints it fits.
    taken: set[int] = set()
    for fits, text in NAMED_PRAISE:
        choices = [i for i, r in enumerate(rows)
                   if not r["tag"] and i not in taken and r["touchpoint"] in fits
                   and is_praise(r["survey"], r["score"])]
        i = rng.choice(choices)
        taken.add(i)
        rows[i]["comment"] = text
        rows[i]["tag"] = "named-praise"

    rows.sort(key=lambda r: (r["at"], r["touchpoint"]))
    # customer ids in order of first answer
    renumber: dict[str, str] = {}
    for r in rows:
        cid = r["customer"][0]
        if cid and cid not in renumber:
            renumber[cid] = f"c-{1001 + len(renumber)}"
    out = []
    for n, r in enumerate(rows):
        cid, name, email = r["customer"]
        cid = renumber.get(cid, "")
        out.append({
            "id": f"r-{10001 + n}", "survey": r["survey"], "score": str(r["score"]), "comment": r["comment"],
            "customer_id": cid, "customer_name": name, "customer_email": email,
            "touchpoint": r["touchpoint"], "responded_at": iso(r["at"]),
        })
    return out


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def summary(rows: list[dict[str, str]]) -> str:
    kinds = Counter(r["survey"] for r in rows)
    nps = [int(r["score"]) for r in rows if r["survey"] == "nps"]
    score = 100 * (sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps)) / len(nps)
    return (f"{len(rows)} responses ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}), "
            f"NPS {score:+.1f}, {rows[0]['responded_at']} .. {rows[-1]['responded_at']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})")
    ap.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    rows = generate(args.seed)
    write_csv(rows, args.out)
    print(f"wrote {args.out}: {summary(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
