//! Companies and their licences.

use super::date::{Date, as_of};
use super::reference::{DISTRICTS, District, ENTITY_TYPES, INDUSTRIES, TRADE_NAMES};
use super::{Builder, Fields, Kind};
use proofless_core::ids::{HolderCode, Uscc};

impl Builder<'_> {
    pub(super) fn company(&mut self) {
        let district = self.rng.pick(&DISTRICTS);
        let uscc = self.generator.company_for(self.n, district);
        let holder = HolderCode::Organisation(uscc);
        let industry = self.rng.pick(&INDUSTRIES);
        let mut trade = self.rng.word(TRADE_NAMES).to_owned();
        if self.rng.chance(0.5) {
            trade.push_str(self.rng.word(TRADE_NAMES));
        }
        let name = format!("青岛{trade}{}有限公司", industry.suffix);
        let representative = self.rng.full_name(0.7);
        let founded = self
            .rng
            .date_between(Date::ymd(1995, 1, 1), as_of().plus_days(-30));
        let domicile = format!(
            "{}{}{}号{}{:02}室",
            district.province_prefix(),
            self.rng.word(district.streets),
            self.rng.range(1, 300),
            self.rng.range(1, 25),
            self.rng.range(1, 20)
        );
        let authority = format!("{}市场监督管理局", district.admin);
        let term_until = match founded.plus_years(30) {
            end if end > as_of() && self.rng.chance(0.3) => Some(end),
            _ => None,
        };
        let issued = self.rng.date_between(founded, as_of());
        let fields = Fields::default()
            .t("uscc", uscc.as_str())
            .t("entity_name", name.clone())
            .t("entity_type", *self.rng.pick(&ENTITY_TYPES))
            .t("legal_representative", representative.clone())
            .t(
                "business_scope",
                format!(
                    "一般项目：{}。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）",
                    industry.scope
                ),
            )
            .t(
                "registered_capital",
                format!(
                    "{}万元人民币",
                    self.rng.pick(&[10, 50, 100, 200, 500, 1000, 3000])
                ),
            )
            .d("establishment_date", founded)
            .d("business_term_from", founded)
            .t(
                "business_term_until",
                term_until.map_or("长期".into(), Date::iso),
            )
            .t("domicile", domicile.clone())
            .t("registration_authority", authority.clone())
            .d("issue_date", issued);
        self.emit(Kind::BusinessLicence, holder, (issued, term_until), fields);

        let company = Company {
            holder,
            uscc,
            name,
            representative,
            domicile,
            authority,
            district,
        };
        if self.rng.chance(industry.food) {
            self.food_licence(&company, founded);
        }
        if self.rng.chance(industry.transport) {
            self.road_transport(&company, founded);
        }
    }

    /// 食品经营许可证: JY, business format digit, region code, 6-digit sequence and a
    /// check digit; valid 5 years.
    fn food_licence(&mut self, c: &Company, founded: Date) {
        let earliest = founded.max(as_of().plus_years(-5).plus_days(1));
        let issued = self.rng.date_between(earliest, as_of());
        let until = issued.plus_years(5).plus_days(-1);
        let (digit, format, items) = *self.rng.pick(&[
            (
                "1",
                "食品销售经营者（商场超市）",
                "预包装食品销售（含冷藏冷冻食品）；散装食品销售（不含冷藏冷冻食品）",
            ),
            (
                "1",
                "食品销售经营者（便利店）",
                "预包装食品销售（不含冷藏冷冻食品）",
            ),
            (
                "2",
                "餐饮服务经营者（小型餐馆）",
                "热食类食品制售；冷食类食品制售",
            ),
            ("3", "单位食堂（职工食堂）", "热食类食品制售"),
        ]);
        let number = format!("JY{digit}{}{}", c.district.code, self.rng.digits(7));
        let office = format!(
            "{}{}市场监督管理所",
            c.authority,
            self.rng.word(c.district.subdistricts)
        );
        let fields = Fields::default()
            .t("operator_name", c.name.clone())
            .t("holder_code", c.uscc.as_str())
            .t("legal_representative", c.representative.clone())
            .t("domicile", c.domicile.clone())
            .t("business_premises", c.domicile.clone())
            .t("main_business_format", format)
            .t("business_items", items)
            .t("licence_number", number)
            .d("valid_until", until)
            .t("supervision_agency", office)
            .t(
                "supervision_officers",
                format!("{}、{}", self.rng.full_name(1.0), self.rng.full_name(0.0)),
            )
            .t("issuing_authority", c.authority.clone())
            .t("signatory", self.rng.full_name(0.6))
            .d("issue_date", issued);
        self.emit(
            Kind::FoodBusinessLicence,
            c.holder,
            (issued, Some(until)),
            fields,
        );
    }

    /// 道路运输经营许可证, valid 4 years.
    fn road_transport(&mut self, c: &Company, founded: Date) {
        let earliest = founded.max(as_of().plus_years(-4).plus_days(1));
        let from = self.rng.date_between(earliest, as_of());
        let until = from.plus_years(4).plus_days(-1);
        let fields = Fields::default()
            .t("operator_name", c.name.clone())
            .t("uscc", c.uscc.as_str())
            .t("operator_address", c.domicile.clone())
            .t("economic_type", "有限责任公司")
            .t(
                "business_scope",
                *self.rng.pick(&[
                    "道路普通货物运输",
                    "道路普通货物运输；货物专用运输（集装箱）",
                    "道路普通货物运输；大型物件运输",
                ]),
            )
            .t(
                "certificate_number",
                format!(
                    "鲁交运管许可青字{}{}号",
                    c.district.code,
                    self.rng.digits(6)
                ),
            )
            .d("valid_from", from)
            .d("valid_until", until)
            .t("issuing_authority", "青岛市交通运输局")
            .d("issue_date", from);
        self.emit(
            Kind::RoadTransportPermit,
            c.holder,
            (from, Some(until)),
            fields,
        );
    }
}

/// What a company's licences repeat from its business licence.
struct Company {
    holder: HolderCode,
    uscc: Uscc,
    name: String,
    representative: String,
    domicile: String,
    authority: String,
    district: &'static District,
}
